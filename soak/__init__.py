"""`hatch run soak`: Toasty's reliability scenarios at full size, with a summary table (issue 8)."""
