// The API client: same-origin fetches with the CSRF token, JSON by default; a 401 sends the
// browser to the login page. Errors come back as {"code","message","detail"} (API.md).

export function csrfToken() {
  const m = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  return m ? decodeURIComponent(m[1]) : "";
}

export async function api(path, options = {}) {
  const headers = { "Content-Type": "application/json", "X-CSRFToken": csrfToken(), ...(options.headers || {}) };
  const res = await fetch(path, { credentials: "same-origin", ...options, headers });
  if (res.status === 401) location.href = "/login/?next=" + encodeURIComponent(location.pathname);
  return res;
}

// A multipart upload (the browser sets the boundary, so no Content-Type here).
export function upload(path, form) {
  return fetch(path, { method: "POST", body: form, credentials: "same-origin", headers: { "X-CSRFToken": csrfToken() } });
}

export async function errorText(res) {
  try { const body = await res.json(); return body.message || res.statusText; } catch { return res.statusText; }
}
