"""The preschool registry portal (全国学前教育管理信息系统)."""

__version__ = "0.1.0"
