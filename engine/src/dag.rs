//! The task graph: topological order and cycle detection with petgraph.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use petgraph::Direction;
use petgraph::algo::tarjan_scc;
use petgraph::graph::{DiGraph, NodeIndex};

/// Tasks and their dependencies; node `i` is the `i`-th task in file order,
/// and an edge `a -> b` means `b` needs `a`.
#[derive(Debug, Clone)]
pub struct TaskGraph {
    graph: DiGraph<String, ()>,
}

impl TaskGraph {
    /// Builds the graph; `deps[i]` are the indexes task `i` needs.
    pub fn new(ids: &[String], deps: &[Vec<usize>]) -> Self {
        let mut graph = DiGraph::with_capacity(ids.len(), deps.iter().map(Vec::len).sum());
        for id in ids {
            graph.add_node(id.clone());
        }
        for (task, needs) in deps.iter().enumerate() {
            for &dep in needs {
                graph.add_edge(NodeIndex::new(dep), NodeIndex::new(task), ());
            }
        }
        Self { graph }
    }

    /// Every dependency cycle, each as the task ids along it in `needs`
    /// direction, starting and ending with the same task (earliest in file).
    pub fn cycles(&self) -> Vec<Vec<String>> {
        let mut cycles = Vec::new();
        for mut component in tarjan_scc(&self.graph) {
            component.sort();
            let start = component[0];
            let self_loop = self.graph.contains_edge(start, start);
            if component.len() == 1 && !self_loop {
                continue;
            }
            let path = self.cycle_through(start, &component);
            cycles.push(path.into_iter().map(|n| self.graph[n].clone()).collect());
        }
        cycles.sort();
        cycles
    }

    /// A cycle from `start` back to itself following `needs` (incoming edges),
    /// staying inside `component`, preferring earlier tasks at each step.
    fn cycle_through(&self, start: NodeIndex, component: &[NodeIndex]) -> Vec<NodeIndex> {
        let mut path = vec![start];
        let mut seen = vec![start];
        let mut current = start;
        loop {
            let mut needs: Vec<NodeIndex> = self
                .graph
                .neighbors_directed(current, Direction::Incoming)
                .filter(|n| component.binary_search(n).is_ok())
                .collect();
            needs.sort();
            if needs.contains(&start) {
                path.push(start);
                return path;
            }
            // Inside a strongly connected component a way back always exists;
            // walking to unseen nodes first guarantees it is found.
            let next = needs.iter().copied().find(|n| !seen.contains(n)).or_else(|| needs.first().copied());
            match next {
                Some(n) if !seen.contains(&n) => {
                    path.push(n);
                    seen.push(n);
                    current = n;
                }
                Some(n) => {
                    // Closed a loop that does not pass through start: report that loop.
                    let from = path.iter().position(|p| *p == n).unwrap_or(0);
                    let mut cycle = path[from..].to_vec();
                    cycle.push(n);
                    return cycle;
                }
                None => return path,
            }
        }
    }

    /// A topological order that keeps file order wherever dependencies allow,
    /// or `None` when there is a cycle.
    pub fn order(&self) -> Option<Vec<usize>> {
        let n = self.graph.node_count();
        let mut indegree: Vec<usize> =
            (0..n).map(|i| self.graph.neighbors_directed(NodeIndex::new(i), Direction::Incoming).count()).collect();
        let mut ready: BinaryHeap<Reverse<usize>> = (0..n).filter(|&i| indegree[i] == 0).map(Reverse).collect();
        let mut order = Vec::with_capacity(n);
        while let Some(Reverse(i)) = ready.pop() {
            order.push(i);
            for next in self.graph.neighbors_directed(NodeIndex::new(i), Direction::Outgoing) {
                let j = next.index();
                indegree[j] -= 1;
                if indegree[j] == 0 {
                    ready.push(Reverse(j));
                }
            }
        }
        (order.len() == n).then_some(order)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn order_respects_dependencies_and_file_order() {
        let graph = TaskGraph::new(&ids(&["a", "b", "c", "d"]), &[vec![], vec![2], vec![], vec![0, 1]]);
        assert_eq!(graph.order(), Some(vec![0, 2, 1, 3]));
        assert!(graph.cycles().is_empty());
    }

    #[test]
    fn cycle_is_printed_in_needs_direction() {
        // a needs b, b needs c, c needs a.
        let graph = TaskGraph::new(&ids(&["a", "b", "c", "d"]), &[vec![1], vec![2], vec![0], vec![0]]);
        assert_eq!(graph.order(), None);
        assert_eq!(graph.cycles(), vec![ids(&["a", "b", "c", "a"])]);
    }

    #[test]
    fn self_loop_and_separate_cycles_are_all_found() {
        let graph = TaskGraph::new(&ids(&["a", "b", "c", "d"]), &[vec![0], vec![2], vec![1], vec![]]);
        assert_eq!(graph.cycles(), vec![ids(&["a", "a"]), ids(&["b", "c", "b"])]);
    }
}
