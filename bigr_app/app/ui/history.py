"""The History tab: the pictures kept in the outputs folder, newest first, paged and filtered (task, class, model,
starred, day); a picked picture's parameters and edit chain, and what to do with it: restore it into its tab (as
PNG Info does), send it to an editor, star it, delete it. On a shared server each browser sees only its own."""
from __future__ import annotations

import functools
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import gradio as gr
from PIL import Image

from ...errors import InputError
from ...images import for_display
from ..history import Entry, Filters, History
from ..saving import atomic_write
from .common import friendly_errors, send_to
from .pnginfo import wire_restore

ANY = "(any)"
PER_PAGE = 24


def thumbnail(entry: Entry, folder: Path) -> str:
    """A copy of the picture sized for a gallery, made once (in `folder`, the outputs' hidden .thumbs). Written
    whole or not at all: two pages asking at once must not serve one another a file half written."""
    path = folder / f"{entry.hash}.png"
    if not path.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        with Image.open(entry.path) as im:
            view = for_display(im.convert("RGB"))
        view.thumbnail((256, 256))
        with atomic_write(path) as part:
            view.save(part, format="PNG")
    return str(path)


def caption(entry: Entry) -> str:
    star = "★ " if entry.starred else ""
    return f"{star}{entry.task} · seed {entry.seed}" + (f" · {entry.class_name}" if entry.class_name else "")


class HistoryActions:
    def __init__(self, studio):
        self.studio = studio

    def history(self) -> History:
        if self.studio.outputs is None:
            raise InputError("this server keeps no results (start it with --outputs DIR to keep them)")
        return self.studio.outputs.history

    def filters(self, task, class_name, model, starred, day, request) -> Filters:
        since = until = None
        if day and day != ANY:
            since = time.mktime(time.strptime(day, "%Y-%m-%d"))
            until = since + 86400
        pick = lambda value: None if value in (None, "", ANY) else value  # noqa: E731
        return Filters(owner=self.studio.sessions.viewer(request), task=pick(task), class_name=pick(class_name),
                       model=pick(model), starred=True if starred else None, since=since, until=until)

    def show(self, task, class_name, model, starred, day, page: int, request: gr.Request = None) -> tuple:
        """(gallery, the page's ids, page line, page number, filter choices x4)."""
        if self.studio.outputs is None:
            note = "This server keeps no results: start it with `--outputs DIR` to keep them here."
            return [], [], note, 0, *(gr.skip(),) * 4
        history = self.history()
        filters = self.filters(task, class_name, model, starred, day, request)
        entries, total = history.page(filters, int(page), PER_PAGE)
        gone = [e for e in entries if not e.path.is_file()]  # removed by hand: the files are the truth
        if gone:
            for e in gone:
                history.delete(e.id, e.owner)
            entries, total = history.page(filters, int(page), PER_PAGE)
        pages = max(1, -(-total // PER_PAGE))
        if page >= pages:
            page = pages - 1
            entries, total = history.page(filters, page, PER_PAGE)
        owner = filters.owner
        line = (f"Page {page + 1} of {pages} · {total} picture{'s' * (total != 1)}" if total else
                "Nothing here yet: what you make is kept here." if filters == Filters(owner=owner) else
                "No picture matches these filters.")
        choices = [gr.Dropdown(choices=[ANY, *history.choices(column, owner)]) for column in ("task", "class", "model")]
        days = gr.Dropdown(choices=[ANY, *history.days(owner)])
        thumbs = history.root / ".thumbs"
        return ([(thumbnail(e, thumbs), caption(e)) for e in entries], [e.id for e in entries], line, page, *choices,
                days)

    def pick(self, ids: list[int], evt: gr.SelectData, request: gr.Request = None) -> tuple:
        """(picked id, its file as a list, parameters, summary, edit chain, star button)."""
        if not ids or not 0 <= evt.index < len(ids):
            return None, [], None, "", [], gr.Button(value="☆ Star")
        entry = self.history().entry(ids[evt.index], self.studio.sessions.viewer(request))
        return entry.id, [str(entry.path)], entry.params, self.summary(entry), self.chain(entry, request), \
            gr.Button(value="★ Unstar" if entry.starred else "☆ Star")

    def summary(self, entry: Entry) -> str:
        made = time.strftime("%Y-%m-%d %H:%M", time.localtime(entry.created))
        by = f", by {entry.owner[5:]}" if (entry.owner or "").startswith("user:") else ""
        return (f"**{entry.task}**, seed {entry.seed}, {entry.width}x{entry.height}, {made}{by}"
                + (f", model {entry.model}" if entry.model else "") + f" · `{entry.path.name}`")

    def chain(self, entry: Entry, request) -> list[tuple[str, str]]:
        chain = self.history().chain(entry.id, self.studio.sessions.viewer(request))
        if len(chain) < 2:
            return []
        thumbs = self.history().root / ".thumbs"
        return [(thumbnail(e, thumbs), ("▶ " if e.id == entry.id else "") + caption(e)) for e in chain]

    def star(self, picked: int | None, request: gr.Request = None) -> Any:
        if picked is None:
            raise InputError("pick a picture first")
        history = self.history()
        owner = self.studio.sessions.viewer(request)
        entry = history.entry(picked, owner)
        entry = history.star(picked, not entry.starred, owner)
        return gr.Button(value="★ Unstar" if entry.starred else "☆ Star")

    def delete(self, picked: int | None, request: gr.Request = None) -> tuple:
        if picked is None:
            raise InputError("pick a picture first")
        entry = self.history().entry(picked, self.studio.sessions.viewer(request))
        self.history().delete(picked, self.studio.sessions.viewer(request))
        gr.Info(f"Deleted {entry.path.name}")
        return None, [], None, "", []


def history_tab(studio, tabs: gr.Tabs, controls: dict, previews: list[dict], editors: dict) -> SimpleNamespace:
    """`controls`, `previews`: as for PNG Info's restore; `editors`: tab id -> that tab's parts, for "send to"."""
    actions = HistoryActions(studio)
    with gr.Tab("History", id="history") as tab:
        with gr.Row():
            task = gr.Dropdown([ANY], value=ANY, label="Task", elem_id="history-task")
            class_name = gr.Dropdown([ANY], value=ANY, label="Class", elem_id="history-class")
            model = gr.Dropdown([ANY], value=ANY, label="Model", elem_id="history-model")
            day = gr.Dropdown([ANY], value=ANY, label="Day", elem_id="history-day")
            starred = gr.Checkbox(label="★ starred only", elem_id="history-starred")
        with gr.Row():
            newer = gr.Button("◀ Newer", size="sm", scale=0, elem_id="history-newer")
            page_line = gr.Markdown(elem_id="history-page")
            older = gr.Button("Older ▶", size="sm", scale=0, elem_id="history-older")
            refresh = gr.Button("↻ Refresh", size="sm", scale=0, elem_id="history-refresh")
        gallery = gr.Gallery(label="Pictures (newest first)", columns=6, height=420, object_fit="contain",
                             allow_preview=False, elem_id="history-gallery")
        with gr.Row():
            with gr.Column():
                summary = gr.Markdown(elem_id="history-summary")
                params = gr.JSON(label="Parameters", elem_id="history-params")
            with gr.Column():
                kept = studio.outputs is not None  # without an outputs folder there is nothing to act on
                restore = gr.Button("Restore into its tab", variant="primary", elem_id="history-restore",
                                    interactive=kept)
                with gr.Row():
                    send = {tab_id: gr.Button(f"Send to {tab_id.capitalize()}", size="sm", interactive=kept)
                            for tab_id in editors}
                with gr.Row():
                    star = gr.Button("☆ Star", size="sm", elem_id="history-star", interactive=kept)
                    delete = gr.Button("🗑 Delete (file too)", size="sm", variant="stop", elem_id="history-delete",
                                       interactive=kept)
                chain = gr.Gallery(label="Edit chain (oldest first)", columns=4, height=200, object_fit="contain",
                                   allow_preview=False, elem_id="history-chain")
        page, ids, picked, picked_files = gr.State(0), gr.State([]), gr.State(None), gr.State([])
        picked_path = gr.State("")  # on the server: a path never goes to the page and back

    filters = [task, class_name, model, starred, day]
    shown = [gallery, ids, page_line, page, task, class_name, model, day]

    def showing(step: int | None):
        """The history at the page `step` from the shown one (None: the first page)."""
        def show(task, class_name, model, starred, day, page, request: gr.Request = None):
            page = 0 if step is None else max(0, int(page) + step)
            return actions.show(task, class_name, model, starred, day, page, request)
        return dict(fn=friendly_errors(show), inputs=[*filters, page], outputs=shown, api_name=False,
                    show_progress="hidden")

    for event in (tab.select, refresh.click):
        event(**showing(0))
    for knob in filters:
        knob.change(**showing(None))
    newer.click(**showing(-1))
    older.click(**showing(+1))

    chosen = [picked, picked_files, params, summary, chain, star]
    gallery.select(friendly_errors(actions.pick), ids, chosen, api_name=False).then(
        lambda files: files[0] if files else "", picked_files, picked_path, api_name=False)
    star.click(friendly_errors(actions.star), picked, star, api_name=False).then(**showing(0))
    delete.click(friendly_errors(actions.delete), picked, [picked, picked_files, params, summary, chain],
                 api_name=False).then(**showing(0))
    wire_restore(studio, restore, picked_path, tabs, controls, previews)
    for tab_id, button in send.items():
        target = editors[tab_id]
        button.click(friendly_errors(functools.partial(send_to, studio, tab_id)), [picked_path, picked_files],
                     [target.panel.picture, target.panel.editor, tabs], api_name=False).then(**target.show_preview)
    return SimpleNamespace(gallery=gallery, refresh=refresh)
