// Who is at this page (activeloc.ui.app.BrowserSession): a random id per browser tab, kept in the
// tab's sessionStorage so that a reload keeps it and another tab or browser gets its own; the name
// the person declared, kept in the browser's localStorage; and a heartbeat while the page is open,
// which keeps the person's lease on their video. Plain ES module, no import.

const TAB_KEY = "activeloc-annotator-tab";
const NAME_KEY = "activeloc-annotator-name";

function randomId() {  // crypto.randomUUID needs a secure context; getRandomValues does not
  return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");
}

function stored(storage, key) {
  try { return storage.getItem(key); } catch { return null; }  // storage may be disabled
}

function store(storage, key, value) {
  try { storage.setItem(key, value); } catch { /* the id then lasts as long as the page */ }
}

function render({ model }) {
  let tab = stored(sessionStorage, TAB_KEY);
  if (!tab) { tab = randomId(); store(sessionStorage, TAB_KEY, tab); }
  const name = stored(localStorage, NAME_KEY);
  if (name) model.set("name", name);  // the name typed here before wins over the server's default
  model.set("tab", tab);
  model.save_changes();
  const onName = () => store(localStorage, NAME_KEY, model.get("name") || "");
  model.on("change:name", onName);
  const beat = setInterval(() => model.send({ alive: true }), 1000 * (model.get("heartbeat") || 60));
  return () => { clearInterval(beat); model.off("change:name", onName); };
}

export default { render };
