"""One-configuration queries and the throughput-responsiveness frontier, on top of the performance model.

query.py     `planner predict`: one query or a table of them -> the best split and batch under the targets
columns.py   the query and answer columns; a table column that reads as a misspelt query column is refused
validate.py  each query's first problem, one line naming the field
csv_queries.py  the query CSV (`planner predict --batch`) read into a table, every mistake named
frontier.py  `planner frontier`: Pareto points of tokens/s per GPU vs tokens/s per user, cost and energy views
"""

from planner.predict.frontier import compute_frontier, frontier_grid, pareto_front
from planner.predict.query import (
    BATCHES,
    QUERY_COLUMNS,
    RESULT_COLUMNS,
    build_grid,
    normalize_queries,
    predict_many,
    predict_one,
)
from planner.predict.validate import NUMERIC_COLUMNS

__all__ = [
    "BATCHES",
    "NUMERIC_COLUMNS",
    "QUERY_COLUMNS",
    "RESULT_COLUMNS",
    "build_grid",
    "compute_frontier",
    "frontier_grid",
    "normalize_queries",
    "pareto_front",
    "predict_many",
    "predict_one",
]
