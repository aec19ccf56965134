"""``vrmed dashboard``: learning curves and cohort analytics in the browser, served on
127.0.0.1 behind a login, over the embedded attempt database (:mod:`vrmed.records.db`).
See docs/analytics.md."""

from .app import create_app, open_dashboard_db
from .users import DashboardError, User, UserStore, check_password, hash_password

__all__ = ["DashboardError", "User", "UserStore", "check_password", "create_app", "hash_password", "open_dashboard_db"]
