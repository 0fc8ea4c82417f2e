/* 广圆享 policy assistant: the embeddable chat widget.
 *
 *   <script src="http://ASSISTANT:7860/widget.js" data-title="广圆享 · 政策问答" data-color="#b91c1c" defer></script>
 *
 * Puts a button in the corner of the host page; the button opens the chat in an iframe served by the assistant
 * itself, so nothing is loaded from anywhere else and the host page's styles cannot reach the chat.
 * Attributes (all optional): data-title, data-color (#rgb or #rrggbb), data-button (the button's text),
 * data-position ("right" or "left"), data-api-key (a key of POLICY_QA_API_KEYS meant for this page),
 * data-model ("policy-qa", or "policy-qa-extractive" for answers quoted from the clauses without a language model).
 */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script) return;
  var origin = new URL(script.src, document.baseURI).origin;
  var data = script.dataset;
  var color = /^#[0-9a-fA-F]{3}([0-9a-fA-F]{3})?$/.test(data.color || "") ? data.color : "#b91c1c";
  var side = data.position === "left" ? "left" : "right";
  var params = new URLSearchParams({ title: data.title || "广圆享 · 政策问答", color: color });
  if (data.apiKey) params.set("key", data.apiKey);
  if (data.model) params.set("model", data.model);

  var frame = document.createElement("iframe");
  frame.id = "gyx-policy-qa-frame";
  frame.title = params.get("title");
  // The fragment never reaches a server log: title, colour and key travel in it.
  frame.src = origin + "/widget#" + params.toString();
  frame.hidden = true;
  var fs = frame.style;
  fs.position = "fixed"; fs.bottom = "84px"; fs[side] = "20px"; fs.width = "380px"; fs.maxWidth = "calc(100vw - 40px)";
  fs.height = "560px"; fs.maxHeight = "calc(100vh - 110px)"; fs.border = "0"; fs.borderRadius = "12px";
  fs.boxShadow = "0 8px 30px rgba(0,0,0,.25)"; fs.zIndex = "2147483646"; fs.background = "#fff";

  var button = document.createElement("button");
  button.id = "gyx-policy-qa-button";
  button.type = "button";
  button.textContent = data.button || "政策问答";
  button.setAttribute("aria-expanded", "false");
  var bs = button.style;
  bs.position = "fixed"; bs.bottom = "20px"; bs[side] = "20px"; bs.zIndex = "2147483647"; bs.background = color;
  bs.color = "#fff"; bs.border = "0"; bs.borderRadius = "24px"; bs.padding = "12px 20px"; bs.fontSize = "15px";
  bs.cursor = "pointer"; bs.boxShadow = "0 4px 14px rgba(0,0,0,.25)";
  button.addEventListener("click", function () {
    frame.hidden = !frame.hidden;
    button.setAttribute("aria-expanded", String(!frame.hidden));
  });

  function mount() { document.body.appendChild(frame); document.body.appendChild(button); }
  if (document.body) mount(); else document.addEventListener("DOMContentLoaded", mount);
})();
