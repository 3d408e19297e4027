"""Qt item models that translate the document's spec and shape report into rows and roles."""

from workbench.models.layer_stack_model import LayerStackModel
from workbench.models.palette_model import PaletteModel
from workbench.models.shape_table_model import ShapeTableModel

__all__ = ["LayerStackModel", "PaletteModel", "ShapeTableModel"]
