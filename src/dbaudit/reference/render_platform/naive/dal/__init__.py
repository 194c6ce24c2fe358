"""Data access: one class per table, each method one query."""

from dbaudit.reference.render_platform.naive.dal.chains import ChainsDAL
from dbaudit.reference.render_platform.naive.dal.credits import CreditsDAL, SubscriptionsDAL
from dbaudit.reference.render_platform.naive.dal.projects import ProjectsDAL
from dbaudit.reference.render_platform.naive.dal.renders import RendersDAL
from dbaudit.reference.render_platform.naive.dal.users import UsersDAL

__all__ = ["ChainsDAL", "CreditsDAL", "ProjectsDAL", "RendersDAL", "SubscriptionsDAL", "UsersDAL"]
