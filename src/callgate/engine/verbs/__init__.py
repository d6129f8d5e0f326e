"""The verbs a call runs, one module each (`registry.py` maps a verb to its module). Each module's
`run(ctx, verb)` plays its part on the live call through what `base.CallContext` offers and says
what comes next: nothing (the next verb), `Goto` (fetch and run another document) or `Stop` (hang up).
"""
