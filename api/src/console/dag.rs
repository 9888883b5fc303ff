//! A pipeline's DAG as SVG, laid out on the server: each task in the column
//! of its longest chain of dependencies, in file order within a column;
//! edges from every dependency (`needs` and referenced outputs). Boxes carry
//! `data-task` and a `status-…` class, so the page script can recolour them
//! as events arrive without moving anything. Each box is a link (to the
//! task's log on a run's page, to its YAML on a pipeline's page), so the
//! graph can be walked with the keyboard and read by a screen reader.

use std::collections::{BTreeMap, HashMap};

use hangar_engine::Plan;
use maud::{Markup, html};

use super::i18n::Lang;

const BOX_W: usize = 168;
const BOX_H: usize = 46;
const GAP_X: usize = 56;
const GAP_Y: usize = 18;
const MARGIN: usize = 8;

/// Where each task's box goes: `(column, row)`. `tasks` in file order,
/// each with what it waits for; `order` topological.
fn positions<'a>(tasks: &[(&'a str, &'a [String])], order: &[String]) -> BTreeMap<&'a str, (usize, usize)> {
    let deps: HashMap<&str, &[String]> = tasks.iter().copied().collect();
    let mut column: HashMap<&str, usize> = HashMap::new();
    for id in order {
        let waits = deps.get(id.as_str()).copied().unwrap_or_default();
        let col = waits.iter().filter_map(|d| column.get(d.as_str())).map(|c| c + 1).max().unwrap_or(0);
        column.insert(id.as_str(), col);
    }
    let mut rows: HashMap<usize, usize> = HashMap::new();
    let mut placed = BTreeMap::new();
    for (id, _) in tasks {
        let col = column.get(id).copied().unwrap_or(0);
        let row = rows.entry(col).or_insert(0);
        placed.insert(*id, (col, *row));
        *row += 1;
    }
    placed
}

fn corner((col, row): (usize, usize)) -> (usize, usize) {
    (MARGIN + col * (BOX_W + GAP_X), MARGIN + row * (BOX_H + GAP_Y))
}

/// The DAG with each task coloured by `statuses` (task id → status; a task
/// not there yet is `pending`), each box a link to `target(task id)` named
/// by its task, operator and status in the reader's language.
pub fn svg(plan: &Plan, statuses: &HashMap<String, String>, lang: Lang, target: impl Fn(&str) -> String) -> Markup {
    let tasks: Vec<(&str, &[String])> = plan.tasks.iter().map(|(id, t)| (id.as_str(), t.deps.as_slice())).collect();
    let placed = positions(&tasks, &plan.order);
    let columns = placed.values().map(|p| p.0 + 1).max().unwrap_or(1);
    let rows = placed.values().map(|p| p.1 + 1).max().unwrap_or(1);
    let width = 2 * MARGIN + columns * BOX_W + (columns - 1) * GAP_X;
    let height = 2 * MARGIN + rows * BOX_H + (rows - 1) * GAP_Y;
    html! {
        svg.dag xmlns="http://www.w3.org/2000/svg" role="group" aria-label=(lang.t("graph"))
            width=(width) height=(height) viewBox={ "0 0 " (width) " " (height) } {
            @for (id, task) in &plan.tasks {
                @for dep in &task.deps {
                    @if let (Some(&from), Some(&to)) = (placed.get(dep.as_str()), placed.get(id.as_str())) {
                        @let (fx, fy) = corner(from);
                        @let (tx, ty) = corner(to);
                        @let (x1, y1, x2, y2) = (fx + BOX_W, fy + BOX_H / 2, tx, ty + BOX_H / 2);
                        path.edge d={ "M" (x1) " " (y1) " C" (x1 + GAP_X / 2) " " (y1) " " (x2 - GAP_X / 2) " " (y2) " " (x2) " " (y2) } {}
                    }
                }
            }
            @for (id, task) in &plan.tasks {
                @let (x, y) = corner(placed.get(id.as_str()).copied().unwrap_or((0, 0)));
                @let status = statuses.get(id).map_or("pending", String::as_str);
                a href=(target(id)) aria-label=(box_label(lang, id, &task.operator, status))
                    data-operator=(task.operator) {
                    g class={ "node status-" (status) } data-task=(id) transform={ "translate(" (x) " " (y) ")" } {
                        rect width=(BOX_W) height=(BOX_H) rx="6" {}
                        text.id x="10" y="19" aria-hidden="true" { (id) }
                        text.op x="10" y="36" aria-hidden="true" { (task.operator) }
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

    #[test]
    fn tasks_sit_right_of_everything_they_wait_for_in_file_order() {
        let (none, a, bc) = (vec![], vec!["a".to_owned()], vec!["b".to_owned(), "c".to_owned()]);
        let tasks = [("a", none.as_slice()), ("b", a.as_slice()), ("c", none.as_slice()), ("d", bc.as_slice())];
        let order: Vec<String> = ["a", "c", "b", "d"].map(str::to_owned).to_vec();
        let placed = positions(&tasks, &order);
        assert_eq!(placed["a"], (0, 0));
        assert_eq!(placed["c"], (0, 1));
        assert_eq!(placed["b"], (1, 0));
        assert_eq!(placed["d"], (2, 0));
    }
}
