"""A tool call's result as the text the model reads.

Text blocks are joined with newlines. Binary blocks are described in the text: an image as
`[image: image/png, 12,345 bytes, sha256 <hex>]`, its bytes kept in `MCP_IMAGE_DIR` as
`<sha256>.<ext>` (stored once per content; an image over `MCP_IMAGE_MAX_BYTES` or whose data
is not valid base64 is described, not kept); audio and binary resources are described only.
A resource link is named by its URI, an embedded text resource gives its text. A result with
no content but structured content gives that as JSON. The caller cuts the text to
`TOOL_RESULT_MAX_CHARS` (`ai_model.tools.tool_run`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import mimetypes
import secrets
from pathlib import Path
from typing import Any

import mcp_types as types
from django.conf import settings


def has_binary(result: types.CallToolResult) -> bool:
    """Whether building the text writes files (an image to keep): then run it off the event loop."""
    return any(isinstance(block, types.ImageContent) for block in result.content)


def result_text(result: types.CallToolResult) -> str:
    """The text of `result` (see the module docstring). Synchronous: may write an image file."""
    parts = [_block_text(block) for block in result.content]
    if not parts and result.structured_content is not None:
        return json.dumps(result.structured_content, ensure_ascii=False, default=str)
    return "\n".join(parts)


def _block_text(block: Any) -> str:
    if isinstance(block, types.TextContent):
        return block.text
    if isinstance(block, types.ImageContent):
        return _image_note(block.data, block.mime_type)
    if isinstance(block, types.AudioContent):
        return f"[audio: {block.mime_type}, {_decoded_size(block.data):,} bytes, not kept]"
    if isinstance(block, types.ResourceLink):
        return f"[resource link: {block.uri}{f' ({block.name})' if block.name else ''}]"
    if isinstance(block, types.EmbeddedResource):
        resource = block.resource
        if isinstance(resource, types.TextResourceContents):
            return resource.text
        return f"[resource: {resource.uri}, {resource.mime_type or 'binary'}, {_decoded_size(resource.blob):,} bytes, not kept]"
    return f"[{getattr(block, 'type', type(block).__name__)} content, not shown]"


def _decoded_size(data: str) -> int:
    """Bytes that base64 `data` decodes to (without decoding it)."""
    return max(0, len(data) * 3 // 4 - data[-2:].count("="))


def _image_note(data: str, mime: str) -> str:
    size = _decoded_size(data)
    if size > settings.MCP_IMAGE_MAX_BYTES:
        return f"[image: {mime}, {size:,} bytes, over the {settings.MCP_IMAGE_MAX_BYTES:,}-byte limit, not kept]"
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        return f"[image: {mime}, invalid base64 data, not kept]"
    digest = hashlib.sha256(raw).hexdigest()
    try:
        image_keep(raw, digest, mime)
    except OSError as exc:
        return f"[image: {mime}, {len(raw):,} bytes, sha256 {digest}, not kept: {exc.strerror or exc}]"
    return f"[image: {mime}, {len(raw):,} bytes, sha256 {digest}]"


def image_path(digest: str, mime: str) -> Path:
    """Where the image of SHA-256 `digest` is kept."""
    extension = mimetypes.guess_extension(mime.split(";")[0].strip()) or ".bin"
    return Path(settings.MCP_IMAGE_DIR) / f"{digest}{extension}"


def image_keep(raw: bytes, digest: str, mime: str) -> Path:
    """Write the image once (a new file is renamed into place, so a reader never sees half of one)."""
    path = image_path(digest, mime)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        draft = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
        draft.write_bytes(raw)
        draft.replace(path)
    return path
