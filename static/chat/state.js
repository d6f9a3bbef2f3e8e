// The page's state (the open session, its messages, the models) and reads over the message
// tree. Every module shares this one object; only conversation.js replaces its session.

export const $ = (sel) => document.querySelector(sel);

export const state = { sessionId: null, session: null, models: [], assistants: [], messages: [], streaming: null };

export const modelName = (id) => (state.models.find((x) => x.id === id) || {}).name || "";

export const byId = () => new Map(state.messages.map((m) => [m.id, m]));
export const childrenOf = (id) => state.messages.filter((m) => m.parent === id);

export function newestLeafUnder(id) {
  let node = byId().get(id);
  for (;;) {
    const kids = childrenOf(node.id);
    if (!kids.length) return node;
    node = kids[kids.length - 1];
  }
}

// The path from the root to the session's active leaf (or the newest leaf).
export function activeBranch() {
  if (!state.messages.length) return [];
  const index = byId();
  let leaf = state.session && state.session.active_leaf && index.get(state.session.active_leaf);
  if (!leaf) {
    const parents = new Set(state.messages.map((m) => m.parent).filter(Boolean));
    const leaves = state.messages.filter((m) => !parents.has(m.id));
    leaf = leaves[leaves.length - 1];
  }
  const path = [];
  while (leaf) { path.push(leaf); leaf = leaf.parent ? index.get(leaf.parent) : null; }
  return path.reverse();
}

export function button(text, onClick, disabled = false) {
  const b = document.createElement("button");
  b.type = "button"; b.textContent = text; b.disabled = disabled; b.className = "small";
  b.addEventListener("click", onClick);
  return b;
}
