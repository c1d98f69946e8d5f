"""The layers of a latent scatter and the links between points and the data they came from.

One Points layer holds every item (one point each, its latent code and
cluster in ``features``); colours are set as one (N, 4) array looked up from a
palette, so updates stay vectorised for 100,000 points. Tiles and objects
also get a Labels layer of the items, coloured by cluster, and a Shapes layer
outlining the selected items; frames are linked to the viewer's slider. The
selected points are drawn again, larger and ringed in white, in a small Points
layer on top, so they stand out on every cluster colour; restyling 100,000
points instead would take half a second per selection.
"""

from __future__ import annotations

from contextlib import contextmanager

import napari
import numpy as np
import pandas as pd
from matplotlib.colors import hsv_to_rgb
from napari.layers import Image, Labels, Points
from napari.utils.transforms import Affine

from ..core.latent.clustering import place_beside
from ..core.latent.encoding import FRAMES, OBJECTS, TILES, Encoding, tile_grid_shape, tile_map_placement
from .layers import PLACEMENT, copied_metadata

#: Cluster colours (matplotlib's tab10, then tab20's light shades), RGBA.
PALETTE = np.array(
    [
        "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
        "#bcbd22", "#17becf", "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5",
        "#c49c94", "#f7b6d2", "#dbdb8d", "#9edae5",
    ]
)
#: Colour of HDBSCAN's outliers (cluster -1).
NOISE = "#7f7f7f"
#: Outlines drawn at most, so that selecting 100,000 points stays fast.
MAX_OUTLINES = 500
#: Selected points are drawn this much larger, with a white ring of this
#: width (a fraction of their size).
SELECTED_GROWTH, SELECTED_RING = 1.8, 0.3


def _rgba(hex_colors: np.ndarray) -> np.ndarray:
    values = [[int(c[i : i + 2], 16) / 255 for i in (1, 3, 5)] + [1.0] for c in hex_colors]
    return np.array(values, np.float32)


_PALETTE_RGBA = _rgba(PALETTE)
_NOISE_RGBA = _rgba(np.array([NOISE]))[0]


def cluster_colors(clusters: np.ndarray) -> np.ndarray:
    """RGBA colours (N, 4) of cluster ids (N,); -1 (outliers) is grey.

    Clusters 0 to 17 take :data:`PALETTE`; each later one a colour of its own
    (:func:`_later_colors`), so 100 clusters, or clusters added by hand, never
    share one.
    """
    clusters = np.asarray(clusters, int)
    colors = _later_colors(clusters)
    first = (clusters >= 0) & (clusters < len(PALETTE))
    colors[first] = _PALETTE_RGBA[clusters[first]]
    colors[clusters < 0] = _NOISE_RGBA
    return colors


def _later_colors(clusters: np.ndarray) -> np.ndarray:
    """RGBA colours (N, 4) of clusters past the palette: hues a golden angle apart.

    Successive ids differ by 0.618 of a turn of hue, and their saturation
    and brightness cycle through 3 and 2 steps, so no two ids share a colour.
    """
    later = np.maximum(clusters - len(PALETTE), 0)
    hsv = np.stack(
        [(later * 0.6180339887) % 1.0, 0.55 + 0.2 * (later % 3), 0.95 - 0.25 * (later % 2)],
        axis=-1,
    )
    return np.column_stack([hsv_to_rgb(hsv), np.ones(len(clusters))]).astype(np.float32)


def _hex(color: np.ndarray) -> str:
    return "#" + "".join(f"{round(255 * channel):02x}" for channel in color[:3])


def point_size(height: float, count: int) -> float:
    """Point diameter (world units) for ``count`` points in a square of side ``height``.

    Shrinks as ``1 / sqrt(count)`` so that the points cover about the same
    area however many there are (a redraw of 100,000 large, overlapping
    markers takes seconds in software OpenGL), within 1/400 and 1/50 of the
    side; napari keeps every marker at least 2 screen pixels wide.
    """
    return height * float(np.clip(0.5 / np.sqrt(max(count, 1)), 1 / 400, 1 / 50))


def cluster_legend(clusters: np.ndarray) -> str:
    """Rich text naming each cluster in its colour, with its size."""
    ids, counts = np.unique(clusters, return_counts=True)
    entries = []
    for cluster, count in zip(ids, counts):
        color = _hex(cluster_colors([cluster])[0])
        name = "outliers" if cluster < 0 else f"cluster {cluster}"
        entries.append(f'<span style="color:{color}">&#9679;</span> {name} ({count})')
    return "<br>".join(entries)


def warm_items_colouring(encoding: Encoding, labels: np.ndarray | None) -> None:
    """Colour a throwaway items layer as :class:`LatentScatter` will colour its own, in this thread.

    napari compiles its label colouring (numba) the first time it colours
    labels of a dtype with a number of colours: 3 to 4 s on 2 cores, which
    froze the viewer as the scatter of a 512x512 image's 3,721 tiles
    appeared. Compiled in the encoding's worker, the scatter's own layer then
    takes 0.1 s. Frames have no items layer.
    """
    if encoding.kind == FRAMES:
        return
    ids = np.asarray(encoding.index) + (1 if encoding.kind == TILES else 0)
    dtype = np.asarray(labels).dtype if encoding.kind == OBJECTS else np.arange(1).dtype
    layer = Labels(ids.astype(dtype)[None])
    colours = cluster_colors(np.zeros(len(ids), dtype=int))
    layer.colormap = {None: np.zeros(4), 0: np.zeros(4), **dict(zip(ids.tolist(), colours))}


class LatentScatter:
    """A scatter of latent codes beside its source image, linked both ways.

    Parameters
    ----------
    viewer : napari.Viewer
        Where the layers go.
    source : napari.layers.Image
        The encoded image; it is not changed.
    encoding : Encoding
        Its latent codes.
    embedding : ndarray, shape (N, 2)
        The 2D projection of the codes.
    clusters : ndarray of int, shape (N,)
        Cluster of each item.
    size : int
        Side of the encoded crops (pixels).
    stack_axes : tuple of int
        Where the stack axes (frames) are among the axes of ``source.data``,
        in the order the frames are numbered over them.
    plane_shape : (int, int), optional
        The encoded planes' (Y, X) size (tiles only).
    labels : ndarray, optional
        The object labels (objects only).
    stride : int, optional
        Tile stride (tiles only).
    """

    def __init__(
        self,
        viewer: napari.Viewer,
        source: Image,
        encoding: Encoding,
        embedding: np.ndarray,
        clusters: np.ndarray,
        *,
        size: int,
        stack_axes: tuple[int, ...] = (),
        plane_shape: tuple[int, int] | None = None,
        labels: np.ndarray | None = None,
        stride: int | None = None,
    ):
        self.viewer, self.source, self.encoding, self.size = viewer, source, encoding, size
        self.stack_axes = tuple(stack_axes)
        #: The stack's shape when encoded: its frames are linked while the source keeps it.
        self.stack_shape = tuple(source.data.shape[axis] for axis in self.stack_axes)
        self.plane_shape = plane_shape
        self._linking = False
        self.points = self._points_layer(embedding, clusters)
        self.items = self._items_layer(labels, stride) if encoding.kind != FRAMES else None
        self.outlines = None
        viewer.add_layer(self.points)
        # new points take the layer's current size and border: only data and colours change
        self.highlight = viewer.add_points(
            ndim=2, name=f"{source.name} latent selection", border_color="white",
            border_width=SELECTED_RING, size=SELECTED_GROWTH * self.points.current_size,
        )
        if self.items is not None:
            viewer.add_layer(self.items)
            self.items.events.selected_label.connect(self._on_label)
            self.outlines = viewer.add_shapes(  # boxes in the source's pixels, placed as it is
                ndim=2, name=f"{source.name} selection", edge_color="yellow",
                face_color="transparent", edge_width=1.5, scale=source.scale[-2:],
                translate=source.translate[-2:], **self._plane_placement(),
            )
        else:
            viewer.dims.events.current_step.connect(self._on_step)
        self.points.selected_data.events.items_changed.connect(self._on_points_selected)
        self.points.selected_data.events.items_changed.connect(self._highlight)

    def remove(self) -> None:
        """Take this scatter's layers out of the viewer and stop following the viewer."""
        if self.items is None:
            self.viewer.dims.events.current_step.disconnect(self._on_step)
        for layer in (self.points, self.highlight, self.items, self.outlines):
            if layer is not None and layer in self.viewer.layers:
                self.viewer.layers.remove(layer)

    @property
    def clusters(self) -> np.ndarray:
        """Cluster id of each point (N,)."""
        return self.points.features["cluster"].to_numpy(dtype=int)

    @property
    def point_items(self) -> np.ndarray:
        """The item (frame, tile or object) of each point (N,): points deleted from the layer take theirs along."""
        return self.points.features[self.encoding.kind].to_numpy()

    @property
    def rows(self) -> np.ndarray:
        """The encoding's row of each point's item (N,)."""
        return pd.Index(self.encoding.index).get_indexer(self.point_items)

    # -- layers --------------------------------------------------------------

    def _points_layer(self, embedding: np.ndarray, clusters: np.ndarray) -> Points:
        encoding = self.encoding
        features = pd.DataFrame(
            {f"z{d}": encoding.latents[:, d] for d in range(encoding.latents.shape[1])}
        )
        features["x"], features["y"] = embedding[:, 0], embedding[:, 1]
        features[encoding.kind] = encoding.index  # links each point to its item
        features["cluster"] = pd.Categorical(clusters)
        bounds = self.source.extent.world[:, -2:]
        height = bounds[1, 0] - bounds[0, 0]
        return Points(
            place_beside(embedding, bounds),
            ndim=2,
            name=f"{self.source.name} latent",
            features=features,
            face_color=cluster_colors(clusters),
            border_width=0,
            size=point_size(height, len(embedding)),
            metadata={"source": self.source.name, "kind": encoding.kind},
        )

    def _items_layer(self, labels: np.ndarray | None, stride: int | None) -> Labels:
        """Objects, or one pixel per tile, labelled by item and coloured by cluster."""
        source, name = self.source, f"{self.source.name} clusters"
        scale, translate = source.scale[-2:], source.translate[-2:]
        placement = self._plane_placement()
        if self.encoding.kind == OBJECTS:
            data = np.array(labels, copy=True)
        else:
            grid = tile_grid_shape(self.plane_shape, self.size, stride)
            data = np.arange(1, len(self.encoding.index) + 1).reshape(grid)
            scale, centre = tile_map_placement(scale, translate, self.size, stride)
            # the offset to the first tile's centre turns and shears with the source
            linear = Affine(rotate=placement["rotate"], shear=placement["shear"]).linear_matrix
            translate = translate + linear @ (centre - translate)
        layer = Labels(
            data, name=name, scale=scale, translate=translate, opacity=0.6,
            metadata=copied_metadata(source), **placement,
        )
        layer.colormap = self._items_colormap(self.clusters)
        return layer

    def _plane_placement(self) -> dict:
        """The source's rotation, shear, affine, units and axis labels of its last two axes (Y, X).

        Units and axis labels where this napari has them (:data:`.layers.PLACEMENT`).
        """
        source = self.source
        affine = np.asarray(source.affine.affine_matrix)
        placement = {
            "rotate": np.asarray(source.rotate)[-2:, -2:],
            "shear": np.asarray(source.shear)[-1:] if source.ndim > 1 else None,
            "affine": affine[np.r_[-3, -2, -1]][:, np.r_[-3, -2, -1]],
        }
        for key in ("units", "axis_labels"):
            if key in PLACEMENT and hasattr(source, key):
                placement[key] = tuple(getattr(source, key))[-2:]
        return placement

    @property
    def _item_ids(self) -> np.ndarray:
        """The label of each point's item in the items layer (tiles count from 1)."""
        return self.point_items + (1 if self.encoding.kind == TILES else 0)

    def _items_colormap(self, clusters: np.ndarray) -> dict:
        """Each point's item in the colour of its cluster (N,); deleted points' items transparent."""
        ids = self._item_ids.tolist()
        return {None: np.zeros(4), 0: np.zeros(4), **dict(zip(ids, cluster_colors(clusters)))}

    # -- clusters ------------------------------------------------------------

    def set_clusters(self, clusters: np.ndarray) -> None:
        """Give the items new cluster ids (N,); colours follow."""
        features = self.points.features.copy()
        features["cluster"] = pd.Categorical(clusters)
        self.points.features = features  # reassigned so that the change event fires
        self.points.face_color = cluster_colors(clusters)
        self._highlight()
        if self.items is not None:
            self.items.colormap = self._items_colormap(clusters)

    def new_cluster_from_selection(self) -> int:
        """Put the selected points in a cluster of their own; return its id.

        Raises
        ------
        ValueError
            If no point is selected.
        """
        selected = self.selected()
        clusters = self.clusters
        new = int(clusters.max()) + 1
        clusters[selected] = new
        self.set_clusters(clusters)
        return new

    def selected_rows(self) -> np.ndarray:
        """The encoding's rows of the selected points, in their order; ``ValueError`` if none."""
        return self.rows[self.selected()]

    def selected(self) -> np.ndarray:
        """Indices of the selected points, sorted; ``ValueError`` if none."""
        selected = np.array(sorted(self.points.selected_data), dtype=int)
        if selected.size == 0:
            raise ValueError(
                f"no point is selected in {self.points.name!r}; select points with the "
                "selection tool of the Points layer first."
            )
        return selected

    def _highlight(self, *_) -> None:
        """Draw the selected points again on top, in their cluster colours, larger and ringed."""
        selected = np.array(sorted(self.points.selected_data), dtype=int)
        self.highlight.data = self.points.data[selected]
        if selected.size:
            self.highlight.face_color = self.points.face_color[selected]

    # -- links ---------------------------------------------------------------

    def _on_points_selected(self, *_) -> None:
        if self._linking:
            return
        selected = np.array(sorted(self.points.selected_data), dtype=int)
        with self._link():
            if self.encoding.kind == FRAMES:
                if selected.size:
                    self.show_frame(int(self.point_items[selected[0]]))
            else:
                self._outline(self.rows[selected[:MAX_OUTLINES]])

    @property
    def linked(self) -> bool:
        """Whether the source is in the viewer with the stack it was encoded with."""
        if self.source not in self.viewer.layers:
            return False
        return tuple(self.source.data.shape[axis] for axis in self.stack_axes) == self.stack_shape

    def show_frame(self, frame: int) -> None:
        """Move the viewer's sliders to ``frame`` of the source stack (while :attr:`linked`)."""
        if not self.stack_axes or not self.linked:
            return
        first_axis = self.viewer.dims.ndim - self.source.ndim
        for axis, index in zip(self.stack_axes, np.unravel_index(frame, self.stack_shape)):
            world = self.source.translate[axis] + self.source.scale[axis] * index
            self.viewer.dims.set_point(first_axis + axis, world)

    def _outline(self, rows: np.ndarray) -> None:
        centers = self.encoding.centers[rows]
        half = self.size / 2
        low, high = centers - half, centers + half
        boxes = np.stack([low, np.stack([low[:, 0], high[:, 1]], 1), high,
                          np.stack([high[:, 0], low[:, 1]], 1)], axis=1)
        self.outlines.data = []
        if len(boxes):
            self.outlines.add_rectangles(list(boxes), edge_color="yellow")

    def _on_step(self, event=None) -> None:
        """Select the point of the frame the sliders show."""
        if self._linking or not self.stack_axes or not self.linked:
            return
        first_axis = self.viewer.dims.ndim - self.source.ndim
        axes = list(self.stack_axes)
        point = np.asarray(self.viewer.dims.point)[[first_axis + axis for axis in axes]]
        scale, translate = np.asarray(self.source.scale)[axes], np.asarray(self.source.translate)[axes]
        index = np.rint((point - translate) / scale).astype(int)
        if np.any(index < 0) or np.any(index >= self.stack_shape):
            return
        frame = np.ravel_multi_index(tuple(index), self.stack_shape)
        self._select_items(self.point_items == frame)

    def _on_label(self, event=None) -> None:
        """Select the point of the object or tile picked in the items layer."""
        if not self._linking:
            self._select_items(self._item_ids == self.items.selected_label)

    def _select_items(self, chosen: np.ndarray) -> None:
        with self._link():
            self.points.selected_data = set(np.flatnonzero(chosen).tolist())
            self.points.refresh()

    @contextmanager
    def _link(self):
        """Mark the updates inside as caused by a link, so they do not echo back."""
        self._linking = True
        try:
            yield
        finally:
            self._linking = False
