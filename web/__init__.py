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
    Signs sessions; the default is for development only.
"""

from __future__ import annotations

from collections.abc import Mapping
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
    # Register the views.
    from web import views

    app.register_blueprint(views.maps_bp)
    app.register_blueprint(views.api_bp)
    return app
