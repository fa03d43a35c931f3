"""QGIS layer styles stored inside a GeoPackage, so each layer opens already styled.

QGIS keeps a layer's saved styles in a ``layer_styles`` table of the GeoPackage itself and
applies the row marked ``useAsDefault`` when the layer is opened. :func:`add_layer_styles`
writes that table (with QGIS's own column layout) into a GeoPackage that pyogrio or
geopandas wrote before.

The file is edited in place in one SQLite transaction; a caller that needs the whole
GeoPackage to appear atomically writes to a temporary file and ``os.replace`` s it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from contextlib import closing
from pathlib import Path

from geojtai.errors import InputFileError
from geojtai.qgisstyle import qml, sld
from geojtai.symbology import LayerStyle

__all__ = ["LAYER_STYLES_TABLE", "add_layer_styles", "read_layer_styles"]

LAYER_STYLES_TABLE = "layer_styles"

# The layout QGIS creates when it saves a style to a GeoPackage, so QGIS finds its columns.
_CREATE_TABLE = f"""
CREATE TABLE IF NOT EXISTS {LAYER_STYLES_TABLE} (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    f_table_catalog TEXT(256),
    f_table_schema TEXT(256),
    f_table_name TEXT(256),
    f_geometry_column TEXT(256),
    styleName TEXT(30),
    styleQML TEXT,
    styleSLD TEXT,
    useAsDefault BOOLEAN,
    description TEXT,
    owner TEXT(30),
    ui TEXT,
    update_time DATETIME DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now'))
)
"""
# A GeoPackage lists every user table in gpkg_contents; GDAL ignores (and warns about) one
# that is missing. last_change takes its default, the time of the first write.
_REGISTER = (
    "INSERT OR IGNORE INTO gpkg_contents (table_name, data_type, identifier, description) "
    "VALUES (?, 'attributes', ?, 'QGIS layer styles')"
)
_UNSET_DEFAULT = f"UPDATE {LAYER_STYLES_TABLE} SET useAsDefault = 0 WHERE f_table_name = ?"
_DELETE_OLD = (
    f"DELETE FROM {LAYER_STYLES_TABLE} "
    "WHERE f_table_name = ? AND f_geometry_column = ? AND styleName = ?"
)
_INSERT = (
    f"INSERT INTO {LAYER_STYLES_TABLE} (f_table_catalog, f_table_schema, f_table_name, "
    "f_geometry_column, styleName, styleQML, styleSLD, useAsDefault, description, owner, ui) "
    "VALUES ('', '', ?, ?, ?, ?, ?, 1, ?, '', NULL)"
)


def _connect(path: Path) -> sqlite3.Connection:
    """Open an existing file read-write; never create an empty one by mistake."""
    if not path.is_file():
        msg = f"{path}: no such GeoPackage"
        raise InputFileError(msg)
    # isolation_level=None: the transaction is opened and closed explicitly below.
    return sqlite3.connect(f"{path.resolve().as_uri()}?mode=rw", uri=True, isolation_level=None)


def _geometry_columns(conn: sqlite3.Connection, path: Path) -> dict[str, str]:
    """Feature table → geometry column, from the GeoPackage's own register."""
    try:
        rows = conn.execute(
            "SELECT c.table_name, g.column_name FROM gpkg_contents AS c "
            "JOIN gpkg_geometry_columns AS g ON g.table_name = c.table_name "
            "WHERE c.data_type = 'features'"
        ).fetchall()
    except sqlite3.DatabaseError as exc:
        msg = f"{path}: not a GeoPackage ({exc})"
        raise InputFileError(msg) from exc
    return dict(rows)


def _check_layers(path: Path, wanted: Mapping[str, LayerStyle], found: Mapping[str, str]) -> None:
    missing = sorted(name for name in wanted if name not in found)
    if missing:
        msg = (
            f"{path}: no feature layer named {', '.join(map(repr, missing))}; "
            f"the feature layers are {sorted(found)}"
        )
        raise ValueError(msg)


def _write_style(
    conn: sqlite3.Connection, layer: str, column: str, style: LayerStyle, description: str
) -> None:
    """Make ``style`` the only default style of ``layer``, replacing an earlier one of ours."""
    conn.execute(_UNSET_DEFAULT, (layer,))
    conn.execute(_DELETE_OLD, (layer, column, layer))
    conn.execute(_INSERT, (layer, column, layer, qml(style), sld(style, layer), description))


def add_layer_styles(
    path: Path | str,
    styles: Mapping[str, LayerStyle],
    *,
    geometry_column: str | None = None,
    description: str = "",
) -> None:
    """Store a default QGIS style for each named layer of an existing GeoPackage.

    Each layer gets one row in ``layer_styles`` named after the layer and marked as its
    default (earlier styles of the layer stay, no longer default; an earlier row of the same
    name is replaced), holding the QML and SLD of its :class:`LayerStyle`. The table is
    created with QGIS's layout and registered in ``gpkg_contents`` when absent.

    Parameters
    ----------
    path
        A GeoPackage written before (by pyogrio or geopandas); edited in place.
    styles
        Layer (feature table) name → its style.
    geometry_column
        The geometry column QGIS matches styles on. None (the default) reads each layer's
        column from ``gpkg_geometry_columns`` (GDAL names it ``geom``).
    description
        Text for the ``description`` column of every row written.

    Raises
    ------
    InputFileError
        ``path`` is missing or is not a GeoPackage.
    ValueError
        A name in ``styles`` is not a feature layer of the file (nothing is written).
    """
    path = Path(path)
    with closing(_connect(path)) as conn:
        # Check every name before the first write: nothing changes unless all are known.
        columns = _geometry_columns(conn, path)
        _check_layers(path, styles, columns)
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute(_CREATE_TABLE)
            conn.execute(_REGISTER, (LAYER_STYLES_TABLE, LAYER_STYLES_TABLE))
            for layer, style in styles.items():
                column = geometry_column or columns[layer]
                _write_style(conn, layer, column, style, description)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")


def read_layer_styles(path: Path | str) -> dict[str, str]:
    """The default QML style of each layer that has one.

    Parameters
    ----------
    path
        A GeoPackage.

    Returns
    -------
    dict[str, str]
        Layer name → ``styleQML``; empty when the file has no ``layer_styles`` table.
    """
    path = Path(path)
    with closing(_connect(path)) as conn:
        exists = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
            (LAYER_STYLES_TABLE,),
        ).fetchone()
        if exists is None:
            return {}
        rows = conn.execute(
            f"SELECT f_table_name, styleQML FROM {LAYER_STYLES_TABLE} "
            "WHERE useAsDefault ORDER BY id"
        ).fetchall()
    return dict(rows)
