"""The fleet optimizer: problem files, the backend-neutral MIP, its backends, diagnosis and verification.

Flow (see `pipeline.solve_file`): problem.py (load, validate) -> instance.py (resolve against the catalog) ->
planner.candidates (perf model, filters, keys, pruning) -> checks.py (pre-solve causes) -> formulation.py +
constraints.py + layout.py (the MIP) -> backends.py (OR-Tools SCIP, PuLP HiGHS/CBC) -> solve.py (objectives,
Dinkelbach) -> extract.py (Plan) -> diagnose.py (elastic relaxation, binding limits) -> verify.py.
"""
