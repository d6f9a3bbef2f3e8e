from django.contrib import admin
from django.utils.html import format_html, format_html_join

from chat_session.models import ChatSession


def tree_order(messages):
    """Messages in depth-first tree order with their depth: [(message, depth)]."""
    children: dict = {}
    for m in messages:
        children.setdefault(m.parent_id, []).append(m)
    out, stack = [], [(m, 0) for m in reversed(children.get(None, []))]
    while stack:
        node, depth = stack.pop()
        out.append((node, depth))
        stack.extend((c, depth + 1) for c in reversed(children.get(node.id, [])))
    return out


@admin.register(ChatSession)
class ChatSessionAdmin(admin.ModelAdmin):
    list_display = ["__str__", "owner", "default_model", "title_set_by_user", "message_count", "updated_at"]
    list_filter = ["title_set_by_user", "default_model", "created_at"]
    search_fields = ["title", "owner__username", "id"]
    list_select_related = ["owner", "default_model"]
    readonly_fields = ["id", "created_at", "updated_at", "message_tree"]
    fields = ["id", "owner", "title", "title_set_by_user", "default_model", "created_at", "updated_at", "message_tree"]

    @admin.display(description="messages")
    def message_count(self, obj):
        return obj.messages.count()

    @admin.display(description="Messages (tree order)")
    def message_tree(self, obj):
        rows = tree_order(obj.messages.select_related("model").order_by("created_at"))
        if not rows:
            return "—"
        return format_html(
            "<div>{}</div>",
            format_html_join(
                "",
                '<div style="margin-left:{}em;padding:2px 0"><a href="/admin/message/message/{}/change/">'
                "<b>{}</b></a> [{}{}] {}</div>",
                (
                    (depth * 1.5, m.id, m.role, m.status, f", {m.model}" if m.model else "", m.content[:160])
                    for m, depth in rows
                ),
            ),
        )
