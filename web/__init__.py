"""The geojtai web app: interactive maps of one built study, served with no internet needed.

Run it with ``GEOJTAI_STUDY_DIR=path/to/study flask --app web run`` (or ``geojtai serve``).

Configuration keys, filled from the defaults below, then ``GEOJTAI_*`` environment variables
(``GEOJTAI_STUDY_DIR``, ``GEOJTAI_TILES``, ...), then ``config.py`` in the instance folder,
then ``test_config``:

``STUDY_DIR``
    The built study folder to serve; loaded once, when the app is created.
``STUDIES``
    Several studies, one per area: a mapping of short names to study folders (JSON in
    ``GEOJTAI_STUDIES``). Pages and the API pick one with ``?study=NAME``.
``TILES``
    ``None`` (default): no basemap, so no request leaves the machine. Otherwise a Leaflet
    tile URL template, such as a local tile server's.
``TILES_ATTRIBUTION``
    Attribution shown with ``TILES`` (required for any tiles but OpenStreetMap's).
``SECRET_KEY``
    Signs sessions; set it in production (without it, or with ``"dev"``, a random key is
    made outside tests, so sign-ins end when the app restarts).
``DATABASE_URL``
    Accounts, the interventions register and the audit log: a database URL
    (``postgresql://...``) or a SQLite file path; default ``geojtai.sqlite`` in the instance
    folder (:mod:`web.db`).
``LOGIN_REQUIRED``
    ``True`` (default): every page and API route but ``/login``, ``/healthz`` and static
    files needs a signed-in user (:mod:`web.auth`).
``ANONYMOUS_ROLE``
    ``None`` (default), or the role visitors browse with without signing in (``"viewer"``
    for the offline demo).
``SESSION_COOKIE_SECURE``
    ``False`` (default) for local http; set ``True`` whenever the app is served over https.
    The session cookie is always ``HttpOnly`` and ``SameSite=Lax``.
``PERMANENT_SESSION_LIFETIME``
    The longest a sign-in lasts (default 8 hours; seconds in ``GEOJTAI_...``).
``DISCLOSURE_THRESHOLD``, ``DISCLOSURE_ROUNDING``
    The small-number rule for viewers (:mod:`web.published`): counts below the threshold
    (default 10, never below 8) are merged into parent cells or withheld, others rounded to
    the nearest ``DISCLOSURE_ROUNDING`` (5).
``MAX_CONTENT_LENGTH``
    The largest request (upload) accepted, in bytes (default 5 MB); larger ones get 413.
``MAX_CELLS_DRAWN``
    The most incident cells the map draws at once (default 20,000): beyond it the map
    starts with coarser H3 cells, and a finer cell size can still be chosen.
``REGISTER_TODAY``
    ``None`` (default: the real date), or a fixed ``YYYY-MM-DD`` taken as today by the
    interventions register, for tests and demonstrations.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from flask import Flask

from geojtai.io.studyfolder import load_study
from web.state import AREAS_KEY, load_areas

__all__ = ["AREAS_KEY", "DEFAULTS", "create_app"]

DEFAULTS: dict[str, Any] = {
    "SECRET_KEY": "dev",
    "STUDY_DIR": None,
    "STUDIES": None,
    "TILES": None,
    "TILES_ATTRIBUTION": None,
    "DATABASE_URL": None,
    "LOGIN_REQUIRED": True,
    "ANONYMOUS_ROLE": None,
    "SESSION_COOKIE_SECURE": False,
    "SESSION_COOKIE_HTTPONLY": True,
    "SESSION_COOKIE_SAMESITE": "Lax",
    "PERMANENT_SESSION_LIFETIME": timedelta(hours=8),
    "DISCLOSURE_THRESHOLD": 10,
    "DISCLOSURE_ROUNDING": 5,
    "MAX_CONTENT_LENGTH": 5 * 1024 * 1024,
    "REGISTER_TODAY": None,
    "MAX_CELLS_DRAWN": 20_000,
}


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Create the app and load its study.

    Parameters
    ----------
    test_config
        Settings applied last, over the environment and the instance file.

    Raises
    ------
    StudyError
        ``STUDY_DIR`` is set but is not a complete study folder (the message names it).

    Examples
    --------
    >>> app = create_app({"TESTING": True, "STUDY_DIR": "studies/sampletown"})  # doctest: +SKIP
    """
    app = Flask(__name__, instance_relative_config=True)
    # Configure: defaults, environment, instance file, test settings; later ones win.
    app.config.from_mapping(DEFAULTS)
    app.config.from_prefixed_env("GEOJTAI")
    app.config.from_pyfile("config.py", silent=True)
    if test_config is not None:
        app.config.from_mapping(test_config)
    # Load the studies once per process; without any, the pages explain what to set.
    app.extensions[AREAS_KEY] = load_areas(app, load_study)
    # Open the database and set up sign-in; register the pages and the API.
    from web import auth, compare, dashboard, db, exports, planning, register, views

    db.init_app(app)
    auth.init_app(app)
    for blueprint in (
        views.maps_bp,
        views.api_bp,
        auth.auth_bp,
        compare.compare_bp,
        dashboard.dashboard_bp,
        planning.plan_bp,
        exports.exports_bp,
    ):
        app.register_blueprint(blueprint)
    # The register: seeds each area's register once, then recomputes its deployment from it.
    register.init_app(app)
    return app
