//! A pipeline's DAG as SVG, laid out on the server top to bottom: each
//! task in the layer of its longest chain of dependencies, in file order
//! within a layer, a wide layer wrapping onto more rows, so a 10–30-task
//! pipeline fits a laptop's width. Edges from every dependency (`needs` and
//! referenced outputs). Boxes carry `data-task` and a `status-…` class, so
//! the page script can recolour them as events arrive without moving
//! anything. Each box is a link (to the task's log on a run's page, to its
//! YAML on a pipeline's page), so the graph can be walked with the keyboard
//! and read by a screen reader.

use std::collections::{BTreeMap, HashMap};

use hangar_engine::Plan;
use maud::{Markup, html};

use super::i18n::Lang;

const BOX_W: usize = 168;
const BOX_H: usize = 46;
const GAP_X: usize = 24;
const GAP_Y: usize = 24;
const MARGIN: usize = 8;
/// Boxes side by side before a layer wraps: six fit the console's 1200-pixel column.
const PER_ROW: usize = 6;

/// Where a task's box goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Place {
    /// Its layer: one more than the deepest task it waits for.
    layer: usize,
    /// Its row on the page (a wide layer takes several).
    row: usize,
    /// Left edge, in pixels.
    x: usize,
}

impl Place {
    fn y(self) -> usize {
        MARGIN + self.row * (BOX_H + GAP_Y)
    }
}

/// Each task's place, and the drawing's width and height. `tasks` in file
/// order, each with what it waits for; `order` topological.
fn layout<'a>(tasks: &[(&'a str, &'a [String])], order: &[String]) -> (BTreeMap<&'a str, Place>, usize, usize) {
    let deps: HashMap<&str, &[String]> = tasks.iter().copied().collect();
    let mut layer_of: HashMap<&str, usize> = HashMap::new();
    for id in order {
        let waits = deps.get(id.as_str()).copied().unwrap_or_default();
        let layer = waits.iter().filter_map(|d| layer_of.get(d.as_str())).map(|l| l + 1).max().unwrap_or(0);
        layer_of.insert(id.as_str(), layer);
    }
    let layers = layer_of.values().map(|l| l + 1).max().unwrap_or(1);
    let mut members: Vec<Vec<&str>> = vec![Vec::new(); layers];
    for (id, _) in tasks {
        members[layer_of.get(id).copied().unwrap_or(0)].push(id);
    }
    let widest = members.iter().map(|m| m.len().min(PER_ROW)).max().unwrap_or(1).max(1);
    let width = 2 * MARGIN + widest * BOX_W + (widest - 1) * GAP_X;
    let mut placed = BTreeMap::new();
    let mut row = 0;
    for (layer, ids) in members.iter().enumerate() {
        for chunk in ids.chunks(PER_ROW) {
            // Each row centred, so a chain runs straight down the middle.
            let span = chunk.len() * BOX_W + (chunk.len() - 1) * GAP_X;
            let left = (width - span) / 2;
            for (i, id) in chunk.iter().enumerate() {
                placed.insert(*id, Place { layer, row, x: left + i * (BOX_W + GAP_X) });
            }
            row += 1;
        }
    }
    let rows = row.max(1);
    let height = 2 * MARGIN + rows * BOX_H + (rows - 1) * GAP_Y;
    (placed, width, height)
}

/// An edge from `from`'s bottom to `to`'s top; one that skips layers
/// bends out to the right of the boxes between, rather than through them.
fn edge(from: Place, to: Place) -> String {
    if to.row == from.row + 1 || to.layer == from.layer + 1 && to.row > from.row {
        let (x1, y1) = (from.x + BOX_W / 2, from.y() + BOX_H);
        let (x2, y2) = (to.x + BOX_W / 2, to.y());
        let bend = (y2 - y1) / 2;
        format!("M{x1} {y1} C{x1} {} {x2} {} {x2} {y2}", y1 + bend, y2 - bend)
    } else {
        let (x1, y1) = (from.x + BOX_W, from.y() + BOX_H / 2);
        let (x2, y2) = (to.x + BOX_W, to.y() + BOX_H / 2);
        let out = x1.max(x2) + GAP_X;
        format!("M{x1} {y1} C{out} {y1} {out} {y2} {x2} {y2}")
    }
}

/// The DAG with each task coloured by `statuses` (task id → status; a task
/// not there yet is `pending`), each box a link to `target(task id)` named
/// by its task, operator and status in the reader's language. A mapped task
/// is one box that says how many of its instances have ended (`counts`:
/// task id → `(ended, instances)`), or `map` before its items are known.
pub fn svg(
    plan: &Plan,
    statuses: &HashMap<String, String>,
    counts: &HashMap<String, (usize, usize)>,
    lang: Lang,
    target: impl Fn(&str) -> String,
) -> Markup {
    let tasks: Vec<(&str, &[String])> = plan.tasks.iter().map(|(id, t)| (id.as_str(), t.deps.as_slice())).collect();
    let (placed, width, height) = layout(&tasks, &plan.order);
    // Edges that bend right need room beside the widest row.
    let width = width + GAP_X + MARGIN;
    html! {
        svg.dag xmlns="http://www.w3.org/2000/svg" role="group" aria-label=(lang.t("graph"))
            width=(width) height=(height) viewBox={ "0 0 " (width) " " (height) } {
            @for (id, task) in &plan.tasks {
                @for dep in &task.deps {
                    @if let (Some(&from), Some(&to)) = (placed.get(dep.as_str()), placed.get(id.as_str())) {
                        path.edge d=(edge(from, to)) {}
                    }
                }
            }
            @for (id, task) in &plan.tasks {
                @let place = placed.get(id.as_str()).copied().unwrap_or(Place { layer: 0, row: 0, x: MARGIN });
                @let status = statuses.get(id).map_or("pending", String::as_str);
                a href=(target(id)) aria-label=(box_label(lang, id, &task.operator, status))
                    data-operator=(task.operator) {
                    g class={ "node status-" (status) } data-task=(id) transform={ "translate(" (place.x) " " (place.y()) ")" } {
                        rect width=(BOX_W) height=(BOX_H) rx="6" {}
                        text.id x="10" y="19" aria-hidden="true" { (id) }
                        text.op x="10" y="36" aria-hidden="true" { (task.operator) }
                        @if task.map.is_some() {
                            text.map x=(BOX_W - 10) y="36" text-anchor="end" {
                                @match counts.get(id.as_str()) {
                                    Some((ended, total)) => { "×" (total) " · " (ended) "/" (total) }
                                    None => "map",
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// What a box says to a screen reader (the page script says it again when
/// the status changes).
fn box_label(lang: Lang, id: &str, operator: &str, status: &str) -> String {
    format!("{id} ({operator}): {}", lang.status(status))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(names: &[&str]) -> Vec<String> {
        names.iter().map(|n| (*n).to_owned()).collect()
    }

    #[test]
    fn tasks_sit_below_everything_they_wait_for_in_file_order() {
        let (none, a, bc) = (vec![], ids(&["a"]), ids(&["b", "c"]));
        let tasks = [("a", none.as_slice()), ("b", a.as_slice()), ("c", none.as_slice()), ("d", bc.as_slice())];
        let (placed, _, _) = layout(&tasks, &ids(&["a", "c", "b", "d"]));
        assert_eq!((placed["a"].layer, placed["c"].layer, placed["b"].layer, placed["d"].layer), (0, 0, 1, 2));
        assert_eq!((placed["a"].row, placed["b"].row, placed["d"].row), (0, 1, 2));
        assert!(placed["a"].x < placed["c"].x, "file order within a layer");
    }

    #[test]
    fn a_wide_layer_wraps_and_stays_narrower_than_a_laptop() {
        let none: Vec<String> = vec![];
        let names: Vec<String> = (0..30).map(|i| format!("t{i}")).collect();
        let tasks: Vec<(&str, &[String])> = names.iter().map(|n| (n.as_str(), none.as_slice())).collect();
        let (placed, width, height) = layout(&tasks, &names);
        assert!(width <= 1160, "{width} px");
        assert_eq!(placed["t29"].row, 4, "30 independent tasks in five rows of six");
        assert_eq!(height, 2 * MARGIN + 5 * BOX_H + 4 * GAP_Y);
    }

    #[test]
    fn an_edge_that_skips_a_layer_goes_around_the_boxes_between() {
        let top = Place { layer: 0, row: 0, x: 8 };
        let next = Place { layer: 1, row: 1, x: 8 };
        let after = Place { layer: 2, row: 2, x: 8 };
        assert!(edge(top, next).starts_with(&format!("M{} {}", 8 + BOX_W / 2, MARGIN + BOX_H)));
        assert!(edge(top, after).starts_with(&format!("M{} ", 8 + BOX_W)), "{}", edge(top, after));
    }
}
