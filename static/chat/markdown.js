// Model output as sanitised Markdown: marked renders, DOMPurify keeps only harmless HTML,
// highlight.js colours code blocks (all three vendored, loaded as classic scripts before
// the modules).
//
// Model output is untrusted HTML. Besides scripts (DOMPurify's default), nothing in it may
// restyle or overlay the page (<style>, style=), pose as the app's own controls or post
// anywhere (forms, inputs, buttons), embed other pages or plugins, or make the browser
// fetch anything: an <img> keeps only an inline data: image; any other becomes a link
// to its address (fetched only if the user opens it) or its alt text, so a reply cannot
// ping a server (same-origin or remote) once per streamed delta. Links open in a new tab
// without the page as opener or referrer. The CSP (config/settings.py) is the second wall.
//
// Rendering is incremental: the text is split into top-level blocks (marked's lexer); a
// block whose source is unchanged since the element's last render keeps its DOM nodes, so
// while a reply streams only its changed tail blocks are sanitised and highlighted again
// (bench/markdown_render.py measures it against a whole re-render).
const { DOMPurify, marked, hljs } = window;

export const PURIFY_CONFIG = {
  USE_PROFILES: { html: true },
  FORBID_TAGS: ["style", "link", "meta", "base", "form", "input", "button", "textarea", "select", "option",
    "optgroup", "datalist", "output", "fieldset", "iframe", "frame", "frameset", "object", "embed", "applet",
    "video", "audio", "source", "track", "picture", "dialog", "template", "marquee", "portal"],
  FORBID_ATTR: ["style", "srcset", "sizes", "action", "formaction", "background", "poster", "ping", "autofocus"],
  ALLOW_DATA_ATTR: false,
  SANITIZE_NAMED_PROPS: true, // id/name get a "user-content-" prefix: no clobbering the app's #ids
};
const INLINE_IMAGE = /^data:image\/(png|gif|jpeg|webp);base64,[a-z0-9+/=\s]*$/i;
const WEB_ADDRESS = /^(https?:)?\/\//i; // absolute or scheme-relative
const BLOCKED = "data-blocked-src"; // set here, after sanitising (ALLOW_DATA_ATTR drops any from the reply)

DOMPurify.addHook("afterSanitizeAttributes", (node) => {
  if (node.tagName === "IMG" && !INLINE_IMAGE.test(node.getAttribute("src") || "")) {
    node.setAttribute(BLOCKED, node.getAttribute("src") || "");
    node.removeAttribute("src");
  }
  if (node.tagName === "A" && node.hasAttribute("href")) {
    node.setAttribute("target", "_blank");
    node.setAttribute("rel", "noopener noreferrer");
  }
});
hljs.configure({ ignoreUnescapedHTML: true });

// A blocked image: a link to its web address (nothing is fetched until the user opens it),
// else its alt text.
function blockedImage(img) {
  const src = img.getAttribute(BLOCKED);
  const label = `Image${img.alt ? `: ${img.alt}` : ""} (not loaded)`;
  let out;
  if (WEB_ADDRESS.test(src)) {
    out = document.createElement("a");
    out.href = new URL(src, location.href).href; out.target = "_blank"; out.rel = "noopener noreferrer";
  } else out = document.createElement("span");
  out.className = "blocked-image";
  out.textContent = label;
  img.replaceWith(out);
}

// A code block: highlighted (a named language highlight.js knows; an unnamed one while the
// reply is done, by auto-detection), under a bar with its language and a Copy button.
function decorateCode(pre, streaming) {
  const code = pre.querySelector(":scope > code");
  if (!code) return;
  const named = (code.className.match(/\blanguage-([\w+#.-]+)/) || [])[1];
  if (named ? hljs.getLanguage(named) : !streaming) hljs.highlightElement(code);
  const box = document.createElement("div");
  box.className = "code-block";
  const bar = document.createElement("div");
  bar.className = "code-bar";
  const lang = document.createElement("span");
  lang.className = "code-lang";
  lang.textContent = named || "";
  const copy = document.createElement("button");
  copy.type = "button"; copy.className = "small copy-code"; copy.textContent = "Copy";
  copy.setAttribute("aria-label", named ? `Copy ${named} code` : "Copy code");
  copy.addEventListener("click", () => copyText(code.textContent, copy));
  bar.append(lang, copy);
  pre.replaceWith(box);
  box.append(bar, pre);
}

function renderBlock(token, streaming) {
  const html = marked.parser([token]);
  const fragment = DOMPurify.sanitize(html, { ...PURIFY_CONFIG, RETURN_DOM_FRAGMENT: true });
  for (const img of fragment.querySelectorAll(`img[${BLOCKED}]`)) blockedImage(img);
  for (const pre of fragment.querySelectorAll("pre")) decorateCode(pre, streaming);
  return [...fragment.childNodes];
}

const rendered = new WeakMap(); // element -> its last render: { blocks: [{ raw, nodes, streaming }], links }

/**
 * Render Markdown `text` into `el` (replacing what it holds). Call it again on the same
 * element with the grown text while a reply streams (`streaming: true` leaves unnamed
 * code in the tail unhighlighted until the final render): only blocks whose source changed
 * are rendered again.
 */
export function renderMarkdown(el, text, { streaming = false } = {}) {
  const tokens = marked.lexer(text || "");
  const links = Object.keys(tokens.links || {}).join("\n"); // a new [ref]: url changes earlier blocks
  const last = rendered.get(el) || { blocks: [], links };
  let old = last.links === links ? last.blocks : [];
  const count = last.blocks.reduce((n, b) => n + b.nodes.length, 0);
  if (!old.length || count !== el.childNodes.length || (count && el.lastChild !== old.at(-1).nodes.at(-1))) {
    el.replaceChildren(); old = []; // written by someone else since (or new link definitions): start over
  }
  let same = 0;
  while (same < old.length && same < tokens.length && old[same].raw === tokens[same].raw
    && !(old[same].streaming && !streaming)) same++;
  for (const block of old.slice(same)) for (const node of block.nodes) node.remove();
  const blocks = old.slice(0, same);
  for (const token of tokens.slice(same)) {
    const nodes = renderBlock(token, streaming);
    el.append(...nodes);
    blocks.push({ raw: token.raw, nodes, streaming });
  }
  rendered.set(el, { blocks, links });
}

// Copy `text` to the clipboard, with "Copied" on `btn` and in the page's live region.
export async function copyText(text, btn) {
  let ok = true;
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    ok = legacyCopy(text);
  }
  announce(ok ? "Copied to the clipboard" : "Copying failed: select the text and copy it by hand");
  if (!btn) return;
  const label = btn.dataset.label || btn.textContent;
  btn.dataset.label = label;
  btn.textContent = ok ? "Copied" : "Copy failed";
  btn.classList.toggle("copied", ok);
  clearTimeout(btn.copyTimer);
  btn.copyTimer = setTimeout(() => { btn.textContent = label; btn.classList.remove("copied"); }, 1500);
}

// Without the async clipboard (an insecure origin, a denied permission): a hidden
// textarea and the old copy command.
function legacyCopy(text) {
  const area = document.createElement("textarea");
  area.value = text;
  area.setAttribute("readonly", "");
  area.className = "offscreen";
  document.body.append(area);
  area.select();
  let ok = false;
  try { ok = document.execCommand("copy"); } catch { ok = false; }
  area.remove();
  return ok;
}

// Say `text` to screen readers (one polite live region for the page's short notices).
export function announce(text) {
  let region = document.getElementById("announcer");
  if (!region) {
    region = document.createElement("div");
    region.id = "announcer";
    region.className = "visually-hidden";
    region.setAttribute("role", "status");
    region.setAttribute("aria-live", "polite");
    document.body.append(region);
  }
  region.textContent = "";
  setTimeout(() => { region.textContent = text; }, 50);
}
