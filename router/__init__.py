"""warnroute: routes meteorological warnings to the department actions of Qujing's emergency plan.

The public names are the warning model, the routing decision and the two entry points that
answer "who must do what for this message?" offline: :func:`load_config` and :func:`route`.
Nothing executes on import.
"""

from router.domain.models import Action, Decision, WeatherWarning
from router.plan.config import RoutingConfig, load_config
from router.routing.route import route

__all__ = ["Action", "Decision", "RoutingConfig", "WeatherWarning", "load_config", "route"]
__version__ = "0.1.0"
