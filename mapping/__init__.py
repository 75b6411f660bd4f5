"""The bridge from model to hardware: the network as a layer graph, laid onto a chip.

>>> from mapping import layer_graph, map_network
>>> m = map_network(layer_graph(checkpoint), "45nm")     # doctest: +SKIP
>>> m.layer("conv1").membrane_level                       # doctest: +SKIP
'pe_sram'

``python -m mapping --model FILE --arch CONFIG [--json PATH]`` prints both.
"""

from .graph import (
    GraphError,
    graph_from_dict,
    graph_from_json,
    graph_table,
    graph_to_dict,
    graph_to_json,
    layer_graph,
    synaptic_layers,
    totals,
)
from .placement import LayerMapping, LevelUsage, Mapping, MappingWarning, map_network

__all__ = ["GraphError", "LayerMapping", "LevelUsage", "Mapping", "MappingWarning",
           "graph_from_dict", "graph_from_json", "graph_table", "graph_to_dict", "graph_to_json",
           "layer_graph", "map_network", "synaptic_layers", "totals"]
