// Model output as sanitised Markdown: marked renders, DOMPurify (both vendored, loaded as
// classic scripts before the modules) keeps only harmless HTML.
//
// Model output is untrusted HTML. Besides scripts (DOMPurify's default), nothing in it may
// restyle or overlay the page (<style>, style=), pose as the app's own controls or post
// anywhere (forms, inputs, buttons), embed other pages or plugins, or make the browser
// fetch anything: an <img> keeps only an inline data: image, so a reply cannot ping a
// server (same-origin or remote) once per streamed delta. Links open in a new tab
// without the page as opener or referrer. The CSP (core/middleware.py) is the second wall.
const { DOMPurify, marked } = window;

const PURIFY_CONFIG = {
  USE_PROFILES: { html: true },
  FORBID_TAGS: ["style", "link", "meta", "base", "form", "input", "button", "textarea", "select", "option",
    "optgroup", "datalist", "output", "fieldset", "iframe", "frame", "frameset", "object", "embed", "applet",
    "video", "audio", "source", "track", "picture", "dialog", "template", "marquee"],
  FORBID_ATTR: ["style", "srcset", "sizes", "action", "formaction", "background", "poster", "ping", "autofocus"],
  ALLOW_DATA_ATTR: false,
  SANITIZE_NAMED_PROPS: true, // id/name get a "user-content-" prefix: no clobbering the app's #ids
};
const INLINE_IMAGE = /^data:image\/(png|gif|jpeg|webp);base64,[a-z0-9+/=\s]*$/i;
DOMPurify.addHook("afterSanitizeAttributes", (node) => {
  if (node.tagName === "IMG" && !INLINE_IMAGE.test(node.getAttribute("src") || "")) {
    const alt = node.getAttribute("alt") || "";
    node.removeAttribute("src");
    node.setAttribute("alt", alt ? `[image not loaded: ${alt}]` : "[image not loaded]");
  }
  if (node.tagName === "A" && node.hasAttribute("href")) {
    node.setAttribute("target", "_blank");
    node.setAttribute("rel", "noopener noreferrer");
  }
});

export function renderMarkdown(el, text) {
  el.innerHTML = DOMPurify.sanitize(marked.parse(text || ""), PURIFY_CONFIG);
}
