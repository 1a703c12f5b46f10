"""Solver options that speed up particular solves, each with what it was measured to save (CPU s on the
examples) and where it does not pay. `optimize.backends` applies them; `benchmarks/scip_settings.py` judges new
SCIP settings on close variants of the examples before one lands here.
"""

from __future__ import annotations

# HiGHS' sub-MIP heuristics look for better plans by solving restricted copies of the model; from a good start
# they mostly repeat the search the branch and bound does anyway. Mixed-fleet from the warm start (450.996), CPU s
# (nodes): default 3.9 (80; sub-MIPs about half the time), without RINS 3.6, without RENS 2.7, without the root
# reduced-cost sub-MIP 2.6, without all three 2.0 (150). Without a start they are what finds a plan: cold without
# them 9.6 s (1,538 nodes) against 4.5 with them.
HIGHS_NO_SUB_MIPS = (("mip_heuristic_run_rins", False), ("mip_heuristic_run_rens", False),
                     ("mip_heuristic_run_root_reduced_cost", False))

# From a good start CBC's preprocessing costs more than it finds, and so do its heuristics where the model has
# the fleet's platform binaries to branch on (`branch_first`). Mixed-fleet from the warm start (450.996), CPU s:
# default 3.2, preprocessing off 2.6, heuristics off 3.1, both off 1.7; its runner-up (without gb200, from its
# start) after the perf merges of 62e4ce7: both off 1.46, preprocessing off 1.93, default 2.14. Where a start
# has binaries but none branched first (simplicity-and-failure-domains' runner-up: failure-domain and
# configuration binaries) the heuristics now stay on: 1.67 -> 1.87 s, the price of a rule that can tell the pure
# integer relaxation apart (a replica bound of 1 makes many x_c 0/1 too, so "has 0/1 variables" cannot).
# Not the heuristics in a pure integer model (the price_of relaxation without limits: no binaries): there the
# tree alone rarely meets an integral LP solution, and only CBC's heuristics (rounding, RINS) find the plans
# that close the gap. Mixed-fleet without limits, from a start 452.351 (3e-4 above its optimum 452.220): with
# heuristics off 3.4-4.3 CPU s, 13,400 nodes to find 452.228 (7.2 s wall under load: the regression of
# 62e4ce7, where the start used to be closer); preprocessing off alone 0.42 s (same optimum).
CBC_FROM_START = ["preprocess off"]
CBC_FROM_START_WITH_BINARIES = ["preprocess off", "heuristicsOnOff off"]

# With a start, an incumbent prunes from the first node and SCIP's reduced-cost fixing restarts the root several
# times, each with its full cut loop: three separation rounds at the root are enough then. Measured on the
# warm-started solves of the examples (CPU s, default -> 3 rounds, same objectives): mixed-fleet 1.86 -> 1.43,
# its runner-up 0.31 -> 0.21, simplicity-and-failure-domains 0.79 -> 0.26, its runner-up 3.51 -> 2.69, its
# limits relaxation 0.40 -> 0.12, quickstart 0.34 -> 0.11. Without a start the effect is erratic (either way).
SCIP_WITH_START = "separating/maxroundsroot = 3\n"

# Without a start SCIP separates cuts at every node of the tree by default; on the min-cost fleet models the
# root's cuts do the work and the tree's cost more than they prune. brownfield-h100 (cold; its optimum proven
# exactly, gap 0), CPU s default -> root cuts only, same optimum: 2.67 -> 2.14, 3.37 -> 2.73, 3.98 -> 2.91 (three
# runs at load 5-8); with demand x 0.97 / 1.03 / 0.94 / 1.06: 1.67 -> 1.78, 1.70 -> 1.13, 0.39 -> 0.40,
# 0.91 -> 0.89; its runner-up 0.76 -> 0.70, its limits relaxation 0.31 -> 0.25; power-limited-site and its four
# demand variants unchanged (1.33/1.47/0.17/0.45/0.60 s either way), the same optima. Not from a start: there
# SCIP_WITH_START already limits the root, and the warm-started solves are where SCIP's search swings.
SCIP_ROOT_CUTS_ONLY = "separating/maxrounds = 0\n"

# The class solves of optimize.hourly_split (~110 variables, ~10 rows, dozens per plan) spend most of their time
# separating cuts. diurnal-own-rent's 24 class solves, CPU s: 1.91 -> 0.84 with two rounds at the root and none
# in the tree, the same solutions (no cuts at all: 0.89, one solution differs).
SCIP_FEW_CUTS = "separating/maxrounds = 0\nseparating/maxroundsroot = 2\n"

# From a start, on a model with the fleet's platform binaries to branch on first (mixed-fleet and its runner-up),
# SCIP's primal heuristics cost more than they find: the tree's own LP solutions improve the start. Measured with
# benchmarks/scip_settings.py (CPU s / nodes, load ~5; default -> none): mixed-fleet 5.47/1924 -> 3.49/1667, from
# a start over 3 candidates per group 3.35/1059 -> 1.67/433, its runner-up 0.51/40 -> 0.37/38, with 3% more
# demand 3.36/961 -> 2.50/806, same plans. Not where there are no such binaries: the price_of relaxation of
# mixed-fleet (a pure integer model) then stops at another plan within the gap (1.60 -> 1.47 s).
SCIP_NO_HEURISTICS = "".join(
    f"heuristics/{h}/freq = -1\n"
    for h in ("rins", "crossover", "rounding", "shifting", "intshifting", "oneopt", "feaspump", "veclendiving",
              "fracdiving", "guideddiving", "coefdiving", "pscostdiving", "linesearchdiving", "distributiondiving",
              "farkasdiving", "conflictdiving", "adaptivediving", "alns", "locks", "zirounding", "simplerounding",
              "trivial", "clique", "randrounding", "gins", "rens")
)
