"""ExampleValidator that also checks drift between spans and training/serving skew."""

from tfx_pipelines.components.data_validator.component import (
    DataValidator,
    PreviousSpanStatisticsStrategy,
    statistics_span,
)
from tfx_pipelines.components.data_validator.executor import (
    ANOMALIES_FILE,
    PREVIOUS_STATISTICS_ID_PROPERTY,
    PREVIOUS_STATISTICS_URI_PROPERTY,
    Executor,
    validate_split_statistics,
)

__all__ = [
    "ANOMALIES_FILE",
    "PREVIOUS_STATISTICS_ID_PROPERTY",
    "PREVIOUS_STATISTICS_URI_PROPERTY",
    "DataValidator",
    "Executor",
    "PreviousSpanStatisticsStrategy",
    "statistics_span",
    "validate_split_statistics",
]
