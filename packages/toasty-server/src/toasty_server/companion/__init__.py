"""The desktop companion, `toasty-desktop`: the hub's rendering half on each of the person's devices.

It runs no hub and stores nothing but its resume point. It subscribes to a hub as the person, shows what
the hub's subscribers receive through this device's desktop backend (the renderer the hub itself uses),
and sends the person's clicks and typed answers back to the hub as answers. A question therefore shows on
every device that runs a companion; the first answer wins, and the other devices take it down (see
`questions`).

Modules, one job each: `options` (what to run), `cursor` (the resume point on disk), `toasts` (which
deliveries become which toasts), `desktop` (the local renderer), `questions` (questions decided
elsewhere), `answers` (local clicks → answers), `companion` (the wiring and the hub connection), `cli`.
"""
