"""The data package's typed objects (`DataVersion`, `DataSlice`, `FeatureSlice`, holdouts, quality report).

Defined in `auraquant.catalog`, below the store that persists them (the store must not import the domain);
re-exported here so data code and its users import them from their package.
"""

from auraquant.catalog import (
    DataSlice,
    DataVersion,
    FeatureSlice,
    Holdout,
    HoldoutRead,
    QualityIssue,
    QualityReport,
    SliceRole,
)

__all__ = ["DataSlice", "DataVersion", "FeatureSlice", "Holdout", "HoldoutRead", "QualityIssue", "QualityReport",
           "SliceRole"]
