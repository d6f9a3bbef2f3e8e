// The chat page's entry point (an ES module; no build step). Modules by concern:
//   api.js (the API client), sse.js (the stream reader), state.js (page state, the tree),
//   markdown.js (sanitised rendering), messages.js (message rendering), conversation.js
//   (open/follow/send/regenerate/branches), sidebar.js, composer.js, attachments.js,
//   models.js (pickers), compare.js, audio.js (read aloud, dictation), chat-settings.js
//   (the per-chat settings dialog); theme.js is a classic script in <head> (base.html).
import { $ } from "./state.js";
import { loadModels, loadAssistants, assistantChanged } from "./models.js";
import { loadSessions } from "./sidebar.js";
import { openSession } from "./conversation.js";
import { installComposer } from "./composer.js";
import { toggleDictation } from "./audio.js";
import { installChatSettings } from "./chat-settings.js";

installComposer();
installChatSettings();
$("#assistant-picker").addEventListener("change", assistantChanged);
$("#new-session").addEventListener("click", () => openSession(null));
$("#mic").addEventListener("click", toggleDictation);

await loadModels();
await loadAssistants();
await loadSessions();
const m = location.pathname.match(/^\/s\/([0-9a-f-]{36})/);
if (m) await openSession(m[1]);
