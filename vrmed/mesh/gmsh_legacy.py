"""Reader for the legacy Gmsh v1 ASCII format (``$NOD``/``$ELM``), which meshio does not read.

Format (Gmsh 1.0 reference manual)::

    $NOD
    number-of-nodes
    node-number x y z
    ...
    $ENDNOD
    $ELM
    number-of-elements
    elm-number elm-type reg-phys reg-elem number-of-nodes node-number-list
    ...
    $ENDELM
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vrmed.mesh.meshtypes import MeshError

#: Gmsh element type codes -> node counts (v1 and v2 share them).
_NODES_PER_TYPE = {1: 2, 2: 3, 3: 4, 4: 4, 5: 8, 6: 6, 7: 5, 8: 3, 9: 6, 10: 9, 11: 10, 15: 1}
TET_TYPE = 4
TRIANGLE_TYPE = 2


def is_gmsh_v1(path: Path) -> bool:
    """True when the first non-blank line of the file is ``$NOD`` (legacy Gmsh v1)."""
    with open(path, "rb") as fh:
        for raw in fh:
            line = raw.strip()
            if line:
                return line in (b"$NOD", b"$NOE")
    return False


def read_gmsh_v1(path: str | Path) -> dict:
    """Read a Gmsh v1 file into ``points`` (n,3), ``tets`` (m,4, 0-based), ``triangles`` and ids.

    Node numbers in v1 files need not be contiguous (SOFA's liver2.msh starts at 2 and skips),
    so they are mapped to 0-based indices. Raises :class:`MeshError` naming the line on any
    malformed input.
    """
    path = Path(path)
    lines = path.read_text(encoding="ascii", errors="replace").splitlines()
    n = len(lines)
    i = 0

    def fail(lineno: int, what: str) -> MeshError:
        return MeshError(f"{path}:{lineno}: {what} (legacy Gmsh v1 format). Fix or re-export the mesh.")

    def next_nonblank(j: int) -> int:
        while j < n and not lines[j].strip():
            j += 1
        return j

    def read_count(j: int, section: str) -> tuple[int, int]:
        j = next_nonblank(j)
        if j >= n:
            raise fail(j, f"file ends before the {section} count")
        try:
            count = int(lines[j].split()[0])
        except (ValueError, IndexError):
            raise fail(j + 1, f"expected the number of entries after {section}, got {lines[j]!r}") from None
        if count < 0:
            raise fail(j + 1, f"negative count {count} after {section}")
        return count, j + 1

    node_ids = coords = None
    tets: list[list[int]] = []
    tet_ids: list[int] = []
    tris: list[list[int]] = []
    while True:
        i = next_nonblank(i)
        if i >= n:
            break
        tag = lines[i].strip()
        if tag == "$NOD" or tag == "$NOE":
            count, i = read_count(i + 1, tag)
            block = lines[i : i + count]
            if len(block) < count:
                raise fail(n, f"$NOD declares {count} nodes but the file ends after {len(block)}")
            try:
                arr = np.array([ln.split()[:4] for ln in block], dtype=np.float64)
            except ValueError:
                for k, ln in enumerate(block):
                    parts = ln.split()
                    try:
                        if len(parts) < 4:
                            raise ValueError
                        [float(x) for x in parts[:4]]
                    except ValueError:
                        raise fail(i + k + 1, f"node line must be 'id x y z', got {ln!r}") from None
                raise
            bad = ~np.isfinite(arr).all(axis=1) | (arr[:, 0] != np.round(arr[:, 0]))
            if bad.any():
                k = int(np.flatnonzero(bad)[0])
                raise fail(i + k + 1, f"node line needs an integer id and finite coordinates, got {block[k]!r}")
            node_ids = arr[:, 0].astype(np.int64)
            coords = arr[:, 1:4]
            i += count
            j = next_nonblank(i)
            if j >= n or lines[j].strip() not in ("$ENDNOD", "$ENDNOE"):
                raise fail(j + 1, f"expected $ENDNOD after {count} nodes (is the node count right?)")
            i = j + 1
        elif tag == "$ELM":
            if node_ids is None:
                raise fail(i + 1, "$ELM section before $NOD")
            count, i = read_count(i + 1, tag)
            for k in range(count):
                lineno = i + k + 1
                if i + k >= n:
                    raise fail(n, f"$ELM declares {count} elements but the file ends after {k}")
                parts = lines[i + k].split()
                try:
                    vals = [int(x) for x in parts]
                    eid, etype, _, _, nn = vals[:5]
                    nodes = vals[5 : 5 + nn]
                except (ValueError, IndexError):
                    raise fail(
                        lineno, f"element line must be 'id type phys elem n nodes...', got {lines[i + k]!r}"
                    ) from None
                if len(nodes) != nn or _NODES_PER_TYPE.get(etype, nn) != nn:
                    raise fail(
                        lineno,
                        f"element {eid} of type {etype} lists {len(nodes)} nodes, "
                        f"expected {_NODES_PER_TYPE.get(etype, nn)}",
                    )
                if etype == TET_TYPE:
                    tets.append(nodes)
                    tet_ids.append(eid)
                elif etype == TRIANGLE_TYPE:
                    tris.append(nodes)
            i += count
            j = next_nonblank(i)
            if j >= n or lines[j].strip() != "$ENDELM":
                raise fail(j + 1, f"expected $ENDELM after {count} elements (is the element count right?)")
            i = j + 1
        else:
            raise fail(i + 1, f"unknown section {tag!r}; expected $NOD or $ELM")
    if node_ids is None:
        raise MeshError(f"{path}: no $NOD section; this is not a legacy Gmsh v1 mesh.")
    uniq, first = np.unique(node_ids, return_index=True)
    if uniq.size != node_ids.size:
        dup = np.setdiff1d(np.arange(node_ids.size), first)
        raise MeshError(f"{path}: node id {int(node_ids[dup[0]])} is defined twice; node ids must be unique.")
    order = np.argsort(node_ids)
    sorted_ids = node_ids[order]

    def remap(conn: list[list[int]], ids: list[int] | None, kind: str) -> np.ndarray:
        k = len(conn[0]) if conn else (4 if kind == "tetrahedron" else 3)
        a = np.asarray(conn, dtype=np.int64).reshape(-1, k)
        pos = np.searchsorted(sorted_ids, a)
        pos = np.clip(pos, 0, sorted_ids.size - 1)
        missing = sorted_ids[pos] != a
        if missing.any():
            r = int(np.flatnonzero(missing.any(axis=1))[0])
            eid = ids[r] if ids else r
            raise MeshError(
                f"{path}: {kind} element {eid} refers to node {int(a[missing][0])}, which is not "
                "in $NOD. The node and element sections do not match; re-export the mesh."
            )
        return order[pos]

    return {
        "points": coords,
        "tets": remap(tets, tet_ids, "tetrahedron"),
        "tet_ids": np.asarray(tet_ids, dtype=np.int64),
        "triangles": remap(tris, None, "triangle"),
    }
