"""A fake of the PyWinRT packages windows-toasts imports, for running its real classes off Windows.

Only the WinRT layer is faked: windows-toasts builds the real toast XML and notification data, and this
package records what Windows would have received and lets a test raise the events Windows would raise.
"""

FAKE = True
