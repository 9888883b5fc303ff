//! Data: uploading documents (drag and drop or the file picker, with
//! progress, through `POST /api/v1/uploads`), the reader's uploads, and the
//! data that runs produced: ingested documents rendered from their
//! Markdown with language and source, rejected files with their reasons,
//! and duplicate clusters with the kept document beside each removed one.

use std::collections::{HashMap, HashSet};

use axum::extract::{Path, Query, State};
use axum::response::Response;
use hangar_sdk::{ArtifactKind, ArtifactRef};
use maud::{Markup, PreEscaped, html};
use serde::Deserialize;
use serde_json::{Map, Value};
use tokio::io::AsyncBufReadExt;

use super::i18n::Lang;
use super::layout::head;
use super::layout::{human_size, moment};
use super::{Reader, markdown, render};
use crate::auth::CurrentUser;
use crate::error::{ApiError, ApiJson, ApiResult};
use crate::routes::runs::visible_task;
use crate::routes::uploads;
use crate::state::AppState;

/// Documents or records on one page of a view.
const PER_PAGE: usize = 20;
/// Duplicate records the clusters view reads at most (it groups them all).
const MAX_DUPLICATES: usize = 200_000;
/// Clusters on one page of the duplicates view.
const CLUSTERS_PER_PAGE: usize = 10;

pub async fn overview(State(state): State<AppState>, Reader { lang, user }: Reader) -> Response {
    let body = overview_body(&state, lang, &user).await;
    render(lang, &user, "/data", lang.t("data"), body)
}

async fn overview_body(state: &AppState, lang: Lang, user: &CurrentUser) -> ApiResult<Markup> {
    let ApiJson(listed) = uploads::list(State(state.clone()), user.clone()).await?;
    let outputs = data_outputs(state, user).await?;
    Ok(html! {
        h1 { (lang.t("data")) }
        section.card aria-labelledby="upload-title" {
            h2 #upload-title { (lang.t("upload_documents")) }
            div #dropzone.dropzone data-upload="/api/v1/uploads" {
                p { (lang.t("drop_here")) }
                label for="upload-files" { (lang.t("choose_files")) }
                input #upload-files type="file" name="file" multiple;
                progress #upload-progress max="100" value="0" hidden {}
                p #upload-result role="status" aria-live="polite" {}
            }
        }
        h2 { (lang.t("uploads")) }
        table.runs #uploads {
            (head(lang, &["file", "key", "size", "created"]))
            tbody {
                @for u in &listed.uploads {
                    tr {
                        td { a href={ "/api/v1/artifacts/" (u.id) } { (u.file_name) }
                            @if u.files.len() > 1 { " " span.muted { "+" (u.files.len() - 1) } } }
                        td { code.key title=(u.key) { (u.key) } }
                        td { (human_size(u.size)) }
                        td { (moment(u.created_at)) }
                    }
                }
            }
        }
        @if listed.uploads.is_empty() { p.empty #no-uploads { (lang.t("no_uploads")) } }
        h2 { (lang.t("processed_data")) }
        @if outputs.is_empty() { p.empty { (lang.t("no_data_yet")) } }
        @else {
            table.runs {
                (head(lang, &["run", "pipeline", "task", "outputs"]))
                tbody {
                    @for (run, pipeline, task, names) in &outputs {
                        tr {
                            td { a href={ "/runs/" (run) } { code { (run) } } }
                            td { (pipeline) }
                            td { (task) }
                            td.outputs { @for (name, size) in names {
                                a href={ "/runs/" (run) "/tasks/" (task) "/view/" (name) } { (view_label(lang, name)) }
                                " " span.muted { (human_size(*size)) } " "
                            } }
                        }
                    }
                }
            }
        }
    })
}

/// The browsable outputs (documents and records) of the reader's recent
/// runs: `(run, pipeline, task, [(output, size)])`.
async fn data_outputs(
    state: &AppState,
    user: &CurrentUser,
) -> ApiResult<Vec<(String, String, String, Vec<(String, u64)>)>> {
    let browsable = |a: &ArtifactRef| !a.dir && matches!(a.kind, ArtifactKind::Documents | ArtifactKind::Records);
    let found = super::recent::tasks(state, user, |t| t.outputs.iter().flatten().any(|(_, a)| browsable(a))).await?;
    Ok(found
        .into_iter()
        .map(|(run, task)| {
            let names =
                task.outputs.iter().flatten().filter(|(_, a)| browsable(a)).map(|(n, a)| (n.clone(), a.size)).collect();
            (run.id, run.pipeline, task.task_id, names)
        })
        .collect())
}

fn view_label(lang: Lang, output: &str) -> &'static str {
    match output {
        "documents" => lang.t("documents"),
        "rejected" => lang.t("rejected"),
        "duplicates" => lang.t("duplicate_clusters"),
        _ => lang.t("records"),
    }
}

#[derive(Debug, Deserialize)]
pub struct ViewQuery {
    page: Option<usize>,
}

/// One output of a task, shown for what it is.
pub async fn view(
    State(state): State<AppState>,
    Reader { lang, user }: Reader,
    Path((run, task, output)): Path<(String, String, String)>,
    Query(query): Query<ViewQuery>,
) -> Response {
    let page = query.page.unwrap_or(1).max(1);
    let body = view_body(&state, lang, &user, (&run, &task, &output), page).await;
    render(lang, &user, "/data", view_label(lang, &output), body)
}

async fn view_body(
    state: &AppState,
    lang: Lang,
    user: &CurrentUser,
    (run, task, output): (&str, &str, &str),
    page: usize,
) -> ApiResult<Markup> {
    let record = visible_task(state, user, run, task).await?;
    let artifact = record
        .outputs
        .as_ref()
        .and_then(|o| o.get(output))
        .filter(|a| !a.dir)
        .ok_or_else(|| ApiError::not_found(format!("task {task} of run {run} has no file output {output}")))?;
    let here = format!("/runs/{run}/tasks/{task}/view/{output}");
    let content = if output == "duplicates" {
        let input = record.inputs.as_ref().and_then(|i| i.get("documents"));
        clusters(state, lang, artifact, input, page, &here).await?
    } else if artifact.kind == ArtifactKind::Documents {
        documents(state, lang, artifact, page, &here).await?
    } else {
        records(state, lang, artifact, page, &here).await?
    };
    Ok(html! {
        nav.crumbs aria-label="breadcrumb" {
            a href="/data" { (lang.t("data")) } " › "
            a href={ "/runs/" (run) } { code { (run) } } " › " (task) " › " (view_label(lang, output))
        }
        h1 { (view_label(lang, output)) " " span.muted { (task) } }
        (content)
    })
}

/// Lines `[skip, skip + take)` of a JSONL artifact as JSON objects, and
/// whether more follow. A line that is not an object is skipped.
pub(super) async fn read_lines(
    state: &AppState,
    key: &str,
    skip: usize,
    take: usize,
) -> ApiResult<(Vec<Map<String, Value>>, bool)> {
    let reader = state
        .engine
        .artifacts()
        .buf_reader(key)
        .await
        .map_err(|e| ApiError::internal("could not open the stored output", &e))?;
    let mut lines = reader.lines();
    let (mut out, mut index) = (Vec::with_capacity(take.min(PER_PAGE)), 0usize);
    while let Some(line) =
        lines.next_line().await.map_err(|e| ApiError::internal("could not read the stored output", &e))?
    {
        if index >= skip.saturating_add(take) {
            return Ok((out, true));
        }
        if index >= skip
            && let Ok(Value::Object(object)) = serde_json::from_str(&line)
        {
            out.push(object);
        }
        index += 1;
    }
    Ok((out, false))
}

fn text_of<'a>(object: &'a Map<String, Value>, key: &str) -> &'a str {
    object.get(key).and_then(Value::as_str).unwrap_or_default()
}

async fn documents(state: &AppState, lang: Lang, artifact: &ArtifactRef, page: usize, here: &str) -> ApiResult<Markup> {
    let (docs, more) = read_lines(state, &artifact.key, (page - 1) * PER_PAGE, PER_PAGE).await?;
    Ok(html! {
        @if docs.is_empty() { p.empty { (lang.t("nothing_here")) } }
        @for doc in &docs {
            article.document.card {
                header {
                    h2 { (title_of(doc)) }
                    span.tag lang="en" title=(lang.t("doc_language")) { (text_of(doc, "lang")) }
                    span.muted { (lang.t("source")) ": " code { (text_of(doc, "source")) } }
                    span.muted { (text_of(doc, "text").chars().count()) " " (lang.t("characters")) }
                }
                div.markdown { (PreEscaped(markdown::to_html(text_of(doc, "text")))) }
            }
        }
        (pager(lang, here, page, more))
    })
}

fn title_of(doc: &Map<String, Value>) -> &str {
    match text_of(doc, "title") {
        "" => text_of(doc, "id"),
        title => title,
    }
}

/// Side records (rejected files and the like) as a table of their fields.
async fn records(state: &AppState, lang: Lang, artifact: &ArtifactRef, page: usize, here: &str) -> ApiResult<Markup> {
    let (rows, more) = read_lines(state, &artifact.key, (page - 1) * PER_PAGE, PER_PAGE).await?;
    let mut columns: Vec<&str> = Vec::new();
    for row in &rows {
        for key in row.keys() {
            if !columns.contains(&key.as_str()) {
                columns.push(key);
            }
        }
    }
    let cell = |value: Option<&Value>| match value {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(items)) => {
            items.iter().map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_owned)).collect::<Vec<_>>().join("; ")
        }
        Some(other) => other.to_string(),
        None => String::new(),
    };
    Ok(html! {
        @if rows.is_empty() { p.empty { (lang.t("nothing_here")) } }
        @else {
            div.scroll {
                table.records {
                    thead { tr { @for c in &columns { th scope="col" { (c) } } } }
                    tbody { @for row in &rows { tr { @for c in &columns { td { (cell(row.get(*c))) } } } } }
                }
            }
        }
        (pager(lang, here, page, more))
    })
}

/// A kept document and the documents removed as its duplicates.
struct Cluster {
    kept: String,
    kept_source: String,
    removed: Vec<Map<String, Value>>,
}

/// Duplicate records grouped by the document they duplicate, each removed
/// document beside the kept one. Texts come from dedup's input.
async fn clusters(
    state: &AppState,
    lang: Lang,
    artifact: &ArtifactRef,
    input: Option<&ArtifactRef>,
    page: usize,
    here: &str,
) -> ApiResult<Markup> {
    let (all, _) = read_lines(state, &artifact.key, 0, MAX_DUPLICATES).await?;
    // Clusters in the order their first duplicate was recorded.
    let mut clusters: Vec<Cluster> = Vec::new();
    let mut by_kept: HashMap<String, usize> = HashMap::new();
    for record in all {
        let kept = text_of(&record, "duplicate_of").to_owned();
        let at = *by_kept.entry(kept.clone()).or_insert_with(|| {
            let kept_source = text_of(&record, "duplicate_of_source").to_owned();
            clusters.push(Cluster { kept, kept_source, removed: Vec::new() });
            clusters.len() - 1
        });
        clusters[at].removed.push(record);
    }
    let total = clusters.len();
    let shown: Vec<&Cluster> = clusters.iter().skip((page - 1) * CLUSTERS_PER_PAGE).take(CLUSTERS_PER_PAGE).collect();
    let wanted: HashSet<&str> = shown
        .iter()
        .flat_map(|c| std::iter::once(c.kept.as_str()).chain(c.removed.iter().map(|r| text_of(r, "id"))))
        .collect();
    let texts = match input {
        Some(input) => texts_of(state, &input.key, &wanted).await?,
        None => HashMap::new(),
    };
    let text = |id: &str| texts.get(id).map(String::as_str).unwrap_or_else(|| lang.t("text_unavailable"));
    Ok(html! {
        p.muted { (total) " " (lang.t("clusters_total")) }
        @if total == 0 { p.empty { (lang.t("no_duplicates")) } }
        @for cluster in &shown {
            section.cluster.card {
                h2 { (lang.t("kept")) " " code { (cluster.kept) } " " span.muted { (cluster.kept_source) }
                     " · " (cluster.removed.len()) " " (lang.t("removed_count")) }
                @for removed in &cluster.removed {
                    div.side-by-side {
                        div.side {
                            h3 { (lang.t("kept")) " " span.muted { (cluster.kept_source) } }
                            pre.doc-text { (text(&cluster.kept)) }
                        }
                        div.side {
                            h3 { (lang.t("removed")) " " span.muted { (text_of(removed, "source")) } " "
                                 span.tag { (text_of(removed, "kind")) " " (removed.get("similarity").map(Value::to_string).unwrap_or_default()) } }
                            pre.doc-text { (text(text_of(removed, "id"))) }
                        }
                    }
                }
            }
        }
        (pager(lang, here, page, page * CLUSTERS_PER_PAGE < total))
    })
}

/// The texts of the documents with the wanted ids, in one pass over the file.
async fn texts_of(state: &AppState, key: &str, wanted: &HashSet<&str>) -> ApiResult<HashMap<String, String>> {
    let mut found = HashMap::new();
    if wanted.is_empty() {
        return Ok(found);
    }
    let reader = state
        .engine
        .artifacts()
        .buf_reader(key)
        .await
        .map_err(|e| ApiError::internal("could not open dedup's input", &e))?;
    let mut lines = reader.lines();
    while let Some(line) =
        lines.next_line().await.map_err(|e| ApiError::internal("could not read dedup's input", &e))?
    {
        let Ok(Value::Object(doc)) = serde_json::from_str::<Value>(&line) else { continue };
        let id = text_of(&doc, "id");
        if wanted.contains(id) {
            found.insert(id.to_owned(), text_of(&doc, "text").to_owned());
            if found.len() == wanted.len() {
                break;
            }
        }
    }
    Ok(found)
}

fn pager(lang: Lang, here: &str, page: usize, more: bool) -> Markup {
    html! {
        nav.pager aria-label="pages" {
            @if page > 1 { a href={ (here) "?page=" (page - 1) } rel="prev" { (lang.t("previous")) } }
            span { (lang.t("page_of")) " " (page) }
            @if more { a href={ (here) "?page=" (page + 1) } rel="next" { (lang.t("next")) } }
        }
    }
}
