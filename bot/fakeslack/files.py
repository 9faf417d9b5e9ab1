"""files.* methods: Slack's external upload flow.

files.getUploadURLExternal hands out an upload URL on this server, the client
POSTs the bytes there, and files.completeUploadExternal shares the file.
"""

from __future__ import annotations

from typing import Any

from bot.fakeslack.args import ApiError, Args
from bot.fakeslack.chat import check_postable, post_message, resolve_channel
from bot.fakeslack.state import StoredFile, Workspace


def files_get_upload_url_external(ws: Workspace, args: Args) -> dict[str, Any]:
    filename = args.required("filename", "invalid_arguments")
    length = args.int("length", 0)
    if length <= 0:
        raise ApiError("invalid_arguments")
    file_id = ws.new_id("F")
    ws.files[file_id] = StoredFile(
        id=file_id, name=filename, length=length, created=int(ws.clock())
    )
    base = ws.base_url or "http://localhost"
    return {"upload_url": f"{base}/upload/{file_id}", "file_id": file_id}


def store_upload(ws: Workspace, file_id: str, content: bytes) -> bool:
    """Keep uploaded bytes; False when the file id was never handed out."""
    stored = ws.files.get(file_id)
    if stored is None or stored.completed:
        return False
    stored.content = content
    return True


def files_complete_upload_external(ws: Workspace, args: Args) -> dict[str, Any]:
    items = args.json("files", "invalid_arguments")
    if not isinstance(items, list) or not items:
        raise ApiError("invalid_arguments")
    stored = []
    for item in items:
        found = ws.files.get(str(item.get("id"))) if isinstance(item, dict) else None
        if found is None or found.content is None:
            raise ApiError("file_not_found")
        found.title = item.get("title") or found.name
        stored.append(found)
    channel_ids = args.list("channels") or ([args.str("channel_id")] if "channel_id" in args else [])
    channels = [resolve_channel(ws, channel_id) for channel_id in channel_ids]
    for channel in channels:
        check_postable(ws, channel)
    for found in stored:
        found.completed = True
        found.channels = [c.id for c in channels]
    for channel in channels:
        content = {
            "text": args.str("initial_comment", "") or "",
            "files": [f.to_api() for f in stored],
            "upload": True,
        }
        post_message(ws, channel, content, args.str("thread_ts"))
    return {"files": [f.to_api() for f in stored]}


def files_info(ws: Workspace, args: Args) -> dict[str, Any]:
    found = ws.files.get(args.str("file") or "")
    if found is None or not found.completed:
        raise ApiError("file_not_found")
    return {"file": found.to_api()}


METHODS = {
    "files.getUploadURLExternal": files_get_upload_url_external,
    "files.completeUploadExternal": files_complete_upload_external,
    "files.info": files_info,
}
