"""Data access: batched queries, one round trip each, whatever the number of ids."""

from dbaudit.reference.render_platform.optimized.dal.chains import ChainsDAL
from dbaudit.reference.render_platform.optimized.dal.credits import CreditsDAL
from dbaudit.reference.render_platform.optimized.dal.projects import ProjectsDAL
from dbaudit.reference.render_platform.optimized.dal.renders import RendersDAL
from dbaudit.reference.render_platform.optimized.dal.users import UsersDAL

__all__ = ["ChainsDAL", "CreditsDAL", "ProjectsDAL", "RendersDAL", "UsersDAL"]
