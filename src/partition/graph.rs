//! Where an ONNX graph can be cut, and the two graphs a cut makes. Pure:
//! it reads and builds protobuf messages, and runs nothing.
//!
//! A tensor `t` is a cut when everything after it needs nothing from before
//! it but `t`: the head is `t`'s producer and every node it depends on; the
//! tail is every other node; and no tail node reads a tensor computed from
//! the input other than `t` and the tail's own. Constants (tensors that do
//! not depend on the input, such as weights or a `Constant` node's output)
//! do not count: the tail gets its own copy. The definition does not depend
//! on the order the nodes are written in. Inside a residual block or a
//! concatenation of branches no single tensor carries everything: the tail
//! would also need the skip path or the other branch.

use std::collections::{HashMap, HashSet};

use onnx_protobuf::tensor_shape_proto::{dimension, Dimension};
use onnx_protobuf::type_proto::{Tensor, Value};
use onnx_protobuf::{GraphProto, ModelProto, NodeProto, TensorShapeProto, TypeProto, ValueInfoProto};

/// ONNX's element type number of float32 (`TensorProto.DataType.FLOAT`).
const FLOAT: i32 = 1;

/// A graph read for cutting: which node computes each tensor, and which
/// tensors depend on the input.
pub(super) struct Graph<'a> {
    pub graph: &'a GraphProto,
    pub input: String,
    pub output: String,
    producer: HashMap<&'a str, usize>,
    dynamic: HashSet<&'a str>,
}

/// The graph's inputs that are not initializers, and its outputs.
pub(super) fn endpoints(graph: &GraphProto) -> (Vec<String>, Vec<String>) {
    let weights: HashSet<&str> = initializer_names(graph).collect();
    let inputs = graph.input.iter().map(|v| v.name.clone()).filter(|n| !weights.contains(n.as_str())).collect();
    (inputs, graph.output.iter().map(|v| v.name.clone()).collect())
}

fn initializer_names(graph: &GraphProto) -> impl Iterator<Item = &str> {
    let dense = graph.initializer.iter().map(|t| t.name.as_str());
    dense.chain(graph.sparse_initializer.iter().filter_map(|s| s.values.as_ref().map(|v| v.name.as_str())))
}

/// Every tensor `node` reads, with what its subgraphs (`If`, `Loop`) read.
fn reads(node: &NodeProto) -> Vec<&str> {
    let mut names: Vec<&str> = node.input.iter().map(String::as_str).filter(|n| !n.is_empty()).collect();
    for a in &node.attribute {
        for g in a.g.as_ref().into_iter().chain(a.graphs.iter()) {
            names.extend(g.node.iter().flat_map(reads));
        }
    }
    names
}

impl<'a> Graph<'a> {
    pub fn new(graph: &'a GraphProto, input: String, output: String) -> Graph<'a> {
        let mut producer = HashMap::new();
        let mut dynamic: HashSet<&str> = HashSet::new();
        if let Some(v) = graph.input.iter().find(|v| v.name == input) {
            dynamic.insert(v.name.as_str());
        }
        for (i, node) in graph.node.iter().enumerate() {
            let live = reads(node).iter().any(|r| dynamic.contains(r));
            for out in node.output.iter().filter(|o| !o.is_empty()) {
                producer.insert(out.as_str(), i);
                if live {
                    dynamic.insert(out.as_str());
                }
            }
        }
        Graph { graph, input, output, producer, dynamic }
    }

    /// Whether `tensor` is computed from the input (not a weight or a constant).
    #[cfg(test)]
    pub fn is_dynamic(&self, tensor: &str) -> bool {
        self.dynamic.contains(tensor)
    }

    /// The tensors computed from the input by the graph's nodes, in the order
    /// their nodes are written.
    pub fn computed(&self) -> Vec<&'a str> {
        let outputs = self.graph.node.iter().flat_map(|n| n.output.iter());
        outputs.map(String::as_str).filter(|o| self.dynamic.contains(o)).collect()
    }

    /// The nodes `tensors` depend on, their producers included, as a mask.
    fn ancestors(&self, tensors: &[&str]) -> Vec<bool> {
        let mut mask = vec![false; self.graph.node.len()];
        let mut stack: Vec<usize> = tensors.iter().filter_map(|t| self.producer.get(t).copied()).collect();
        while let Some(i) = stack.pop() {
            if std::mem::replace(&mut mask[i], true) {
                continue;
            }
            stack.extend(reads(&self.graph.node[i]).iter().filter_map(|r| self.producer.get(r).copied()));
        }
        mask
    }

    /// What a tail after `tensor` would need from before it besides
    /// `tensor`: nothing for a cut; for any other tensor, the skip path or
    /// the other branch (or the input) it would have to be handed too.
    pub fn missing(&self, tensor: &str) -> Vec<String> {
        let head = self.ancestors(&[tensor]);
        let mut missing: Vec<String> = Vec::new();
        for node in self.graph.node.iter().enumerate().filter(|(i, _)| !head[*i]).map(|(_, n)| n) {
            for r in reads(node) {
                let from_head = r == self.input || self.producer.get(r).is_some_and(|p| head[*p]);
                if r != tensor && self.dynamic.contains(r) && from_head && !missing.iter().any(|m| m == r) {
                    missing.push(r.to_string());
                }
            }
        }
        let output_in_head = self.producer.get(self.output.as_str()).is_some_and(|p| head[*p]);
        if output_in_head && tensor != self.output && !missing.contains(&self.output) {
            missing.push(self.output.clone());
        }
        missing
    }

    /// The head's node indices (those `tensor` depends on) and the tail's
    /// (the others, with a copy of the constant nodes they read from the head).
    pub fn sides(&self, tensor: &str) -> (Vec<usize>, Vec<usize>) {
        let head = self.ancestors(&[tensor]);
        let tail_nodes = || self.graph.node.iter().enumerate().filter(|(i, _)| !head[*i]);
        let constants: Vec<&str> = tail_nodes()
            .flat_map(|(_, n)| reads(n))
            .filter(|r| !self.dynamic.contains(r) && self.producer.get(r).is_some_and(|p| head[*p]))
            .collect();
        let copied = self.ancestors(&constants);
        let tail = (0..head.len()).filter(|i| !head[*i] || copied[*i]).collect();
        ((0..head.len()).filter(|i| head[*i]).collect(), tail)
    }
}

/// A float32 tensor's declaration with shape `dims`, a batch dimension first.
pub(super) fn float_value(name: &str, batch: &Dimension, dims: &[usize]) -> ValueInfoProto {
    let mut shape = TensorShapeProto::new();
    shape.dim.push(batch.clone());
    for d in dims {
        let mut dim = Dimension::new();
        dim.value = Some(dimension::Value::DimValue(*d as i64));
        shape.dim.push(dim);
    }
    let mut tensor = Tensor::new();
    tensor.elem_type = FLOAT;
    tensor.shape = Some(shape).into();
    let mut ty = TypeProto::new();
    ty.value = Some(Value::TensorType(tensor));
    let mut v = ValueInfoProto::new();
    v.name = name.to_string();
    v.type_ = Some(ty).into();
    v
}

/// The input's batch dimension as declared (a symbol such as `batch`, or 1).
pub(super) fn batch_dimension(graph: &GraphProto, input: &str) -> Dimension {
    let declared = graph.input.iter().find(|v| v.name == input).and_then(|v| match &v.type_.value {
        Some(Value::TensorType(t)) => t.shape.dim.first().cloned(),
        _ => None,
    });
    declared.unwrap_or_else(|| {
        let mut d = Dimension::new();
        d.value = Some(dimension::Value::DimValue(1));
        d
    })
}

/// A copy of `model` whose graph runs the nodes `keep` (in their order) from
/// `input` to `output`, with the weights those nodes read.
pub(super) fn subgraph(
    model: &ModelProto,
    keep: &[usize],
    input: ValueInfoProto,
    output: ValueInfoProto,
) -> ModelProto {
    let mut out = model.clone();
    let Some(graph) = out.graph.as_mut() else { return out };
    let nodes: Vec<NodeProto> = keep.iter().filter_map(|i| graph.node.get(*i).cloned()).collect();
    let read: HashSet<&str> = nodes.iter().flat_map(reads).collect();
    let produced: HashSet<&str> = nodes.iter().flat_map(|n| n.output.iter().map(String::as_str)).collect();
    graph.initializer.retain(|t| read.contains(t.name.as_str()));
    graph.sparse_initializer.retain(|s| s.values.as_ref().is_some_and(|v| read.contains(v.name.as_str())));
    let known = |name: &str| read.contains(name) || produced.contains(name);
    graph.value_info.retain(|v| known(&v.name) && v.name != input.name && v.name != output.name);
    graph.quantization_annotation.retain(|a| known(&a.tensor_name));
    graph.input = vec![input];
    graph.output = vec![output];
    graph.node = nodes;
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(op: &str, inputs: &[&str], output: &str) -> NodeProto {
        let mut n = NodeProto::new();
        n.op_type = op.into();
        n.input = inputs.iter().map(|s| s.to_string()).collect();
        n.output = vec![output.into()];
        n
    }

    /// x → a → b ─┬─ c ─┐
    ///            └─────add → d → y, with a constant `k` read at the end.
    fn residual() -> GraphProto {
        let mut g = GraphProto::new();
        g.input.push(float_value("x", &batch(), &[4]));
        g.output.push(float_value("y", &batch(), &[4]));
        g.node = vec![
            node("Constant", &[], "k"),
            node("Relu", &["x"], "a"),
            node("Neg", &["a"], "b"),
            node("Relu", &["b"], "c"),
            node("Add", &["b", "c"], "d"),
            node("Mul", &["d", "k"], "y"),
        ];
        g
    }

    fn batch() -> Dimension {
        let mut d = Dimension::new();
        d.value = Some(dimension::Value::DimParam("batch".into()));
        d
    }

    #[test]
    fn a_tensor_inside_a_residual_block_is_no_cut_and_says_what_the_tail_would_miss() {
        let g = residual();
        let graph = Graph::new(&g, "x".into(), "y".into());
        assert_eq!(graph.computed(), ["a", "b", "c", "d", "y"]);
        let cuts: Vec<&str> = graph.computed().into_iter().filter(|t| graph.missing(t).is_empty()).collect();
        assert_eq!(cuts, ["a", "b", "d", "y"]);
        assert_eq!(graph.missing("c"), ["b"]);
        assert!(!graph.is_dynamic("k"));
    }

    #[test]
    fn the_tail_gets_its_own_copy_of_a_constant_the_head_computes() {
        let g = residual();
        let graph = Graph::new(&g, "x".into(), "y".into());
        let (head, tail) = graph.sides("b");
        assert_eq!(head, [1, 2]);
        assert_eq!(tail, [0, 3, 4, 5]);
        let (head, tail) = graph.sides("d");
        assert_eq!((head, tail), (vec![1, 2, 3, 4], vec![0, 5]));
    }

    #[test]
    fn a_branch_that_reads_the_input_again_makes_its_side_no_cut() {
        let mut g = residual();
        g.node[4] = node("Add", &["x", "c"], "d");
        let graph = Graph::new(&g, "x".into(), "y".into());
        assert_eq!(graph.missing("c"), ["x"]);
        assert!(graph.missing("a").contains(&"x".to_string()));
        assert!(graph.missing("d").is_empty());
    }

    #[test]
    fn a_subgraph_keeps_only_the_weights_and_declarations_its_nodes_read() {
        let mut m = ModelProto::new();
        let mut g = residual();
        let mut w = onnx_protobuf::TensorProto::new();
        w.name = "k".into();
        g.initializer.push(w);
        g.node.remove(0);
        m.graph = Some(g).into();
        let head = subgraph(&m, &[0, 1], float_value("x", &batch(), &[4]), float_value("b", &batch(), &[4]));
        let hg = head.graph.as_ref().expect("a graph");
        assert!(hg.initializer.is_empty());
        assert_eq!(hg.node.len(), 2);
        assert_eq!(hg.output[0].name, "b");
        let tail = subgraph(&m, &[2, 3, 4], float_value("b", &batch(), &[4]), float_value("y", &batch(), &[4]));
        assert_eq!(tail.graph.as_ref().map(|g| g.initializer.len()), Some(1));
    }
}
