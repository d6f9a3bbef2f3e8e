// The chat page's entry point (an ES module; no build step). Modules by concern:
//   api.js (the API client), sse.js (the stream reader), state.js (page state, the tree),
//   markdown.js (sanitised rendering), messages.js (message rendering), conversation.js
//   (open/follow/send/regenerate/continue/branches, the session socket, Esc stops),
//   sidebar.js, composer.js, attachments.js, models.js (pickers), compare.js, audio.js
//   (read aloud, dictation), layout.js (the drawer, sticking to the bottom), notice.js
//   (in-page notices instead of alert()), chat-settings.js (the per-chat settings dialog);
//   theme.js is a classic script in <head> (base.html), before the first paint.
import { $ } from "./state.js";
import { loadModels, loadAssistants, assistantChanged } from "./models.js";
import { loadSessions, installSidebar } from "./sidebar.js";
import { openSession, installShortcuts } from "./conversation.js";
import { installComposer } from "./composer.js";
import { installCompare } from "./compare.js";
import { toggleDictation } from "./audio.js";
import { installDrawer, installScroll } from "./layout.js";
import { installChatSettings } from "./chat-settings.js";

installComposer();
installDrawer();
installScroll();
installShortcuts();
installCompare();
installChatSettings();
installSidebar();
$("#assistant-picker").addEventListener("change", assistantChanged);
$("#new-session").addEventListener("click", () => { openSession(null); $("#prompt").focus(); });
$("#mic").addEventListener("click", toggleDictation);

await loadModels();
await loadAssistants();
await loadSessions();
const m = location.pathname.match(/^\/s\/([^/]+)/);
if (m) await openSession(m[1]);
