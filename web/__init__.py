"""The geojtai web app: interactive maps of one built study, served with no internet needed.

Run it with ``GEOJTAI_STUDY_DIR=path/to/study flask --app web run`` (or ``geojtai serve``).

Configuration keys, filled from the defaults below, then ``GEOJTAI_*`` environment variables
(``GEOJTAI_STUDY_DIR``, ``GEOJTAI_TILES``, ...), then ``config.py`` in the instance folder,
then ``test_config``:

``STUDY_DIR``
    The built study folder to serve; loaded once, when the app is created.
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

__all__ = ["DEFAULTS", "STUDY_KEY", "create_app"]

DEFAULTS: dict[str, Any] = {
    "SECRET_KEY": "dev",
    "STUDY_DIR": None,
    "TILES": None,
    "TILES_ATTRIBUTION": None,
}
STUDY_KEY = "geojtai.study"


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
    # Load the study once per process; without STUDY_DIR the study pages explain what to set.
    study_dir = app.config["STUDY_DIR"]
    app.extensions[STUDY_KEY] = load_study(study_dir) if study_dir else None
    # Register the views.
    from web import views

    app.register_blueprint(views.maps_bp)
    app.register_blueprint(views.api_bp)
    return app
