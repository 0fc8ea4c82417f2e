/* The widget's chat: asks /v1/chat/completions (streamed) on this server and shows the answer as plain text,
 * with its sources as buttons that open the cited section (/api/source). Text from answers and documents is
 * only ever put into the page as text nodes, never as markup, so a link or script in them cannot act. */
(function () {
  "use strict";
  var params = new URLSearchParams(location.hash.slice(1));
  var title = params.get("title") || "广圆享 · 政策问答";
  var color = params.get("color") || "";
  var key = params.get("key") || "";
  var model = params.get("model") || "policy-qa";
  document.title = title;
  document.getElementById("title").textContent = title;
  if (/^#[0-9a-fA-F]{3}([0-9a-fA-F]{3})?$/.test(color)) document.documentElement.style.setProperty("--brand", color);

  var messages = document.getElementById("messages");
  var form = document.getElementById("ask");
  var input = document.getElementById("question");
  var send = document.getElementById("send");
  var history = []; // {role, content}: the conversation sent with each question
  var MAX_HISTORY = 40;

  function element(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function headers() {
    var h = { "Content-Type": "application/json" };
    if (key) h["Authorization"] = "Bearer " + key;
    return h;
  }

  function showSources(bubble, citations) {
    if (!citations || !citations.length) return;
    var list = element("div", "sources");
    citations.forEach(function (c) {
      var where = [c.doc_number, c.section, c.page ? "第" + c.page + "页" : ""].filter(Boolean).join(" ");
      var button = element("button", "source-link", "[" + c.n + "] 《" + c.doc_title + "》" + (where ? " " + where : ""));
      button.type = "button";
      button.title = c.quote;
      button.addEventListener("click", function () { openSource(c); });
      list.appendChild(button);
    });
    bubble.appendChild(list);
  }

  function openSource(citation) {
    var panel = document.getElementById("source");
    var text = document.getElementById("source-text");
    document.getElementById("source-title").textContent = "《" + citation.doc_title + "》";
    document.getElementById("source-meta").textContent = "正在打开…";
    text.textContent = "";
    panel.hidden = false;
    fetch("/api/source", { method: "POST", headers: headers(), body: JSON.stringify(citation) })
      .then(function (r) { return r.json().then(function (body) { return { ok: r.ok, body: body }; }); })
      .then(function (result) {
        var s = result.body;
        if (!result.ok) { document.getElementById("source-meta").textContent = s.error || "无法打开来源"; return; }
        document.getElementById("source-meta").textContent =
          [s.authority, s.doc_number, s.date, s.section, s.page ? "第" + s.page + "页" : ""].filter(Boolean).join(" · ");
        s.chunks.forEach(function (chunk, i) {
          if (i) text.appendChild(document.createTextNode("\n"));
          if (chunk.chunk_id === s.highlight_chunk && s.highlight_at >= 0) {
            text.appendChild(document.createTextNode(chunk.text.slice(0, s.highlight_at)));
            var mark = element("mark", "", chunk.text.slice(s.highlight_at, s.highlight_at + s.quote.length));
            text.appendChild(mark);
            text.appendChild(document.createTextNode(chunk.text.slice(s.highlight_at + s.quote.length)));
            setTimeout(function () { mark.scrollIntoView({ block: "center" }); }, 0);
          } else {
            text.appendChild(document.createTextNode(chunk.text));
          }
        });
      })
      .catch(function () { document.getElementById("source-meta").textContent = "无法连接服务器，请稍后再试"; });
  }

  document.getElementById("source-close").addEventListener("click", function () {
    document.getElementById("source").hidden = true;
  });

  // Reads server-sent events from a fetch body: one callback per `data:` payload.
  function readEvents(response, onData) {
    var reader = response.body.getReader();
    var decoder = new TextDecoder();
    var buffer = "";
    function pump() {
      return reader.read().then(function (step) {
        if (step.done) return;
        buffer += decoder.decode(step.value, { stream: true });
        var events = buffer.split("\n\n");
        buffer = events.pop();
        events.forEach(function (event) {
          event.split("\n").forEach(function (line) {
            if (line.indexOf("data: ") === 0) onData(line.slice(6));
          });
        });
        return pump();
      });
    }
    return pump();
  }

  function ask(question) {
    messages.appendChild(element("div", "message user", question));
    var bubble = element("div", "message assistant");
    var text = element("div", "answer-text", "正在检索政策条款…");
    bubble.appendChild(text);
    messages.appendChild(bubble);
    messages.scrollTop = messages.scrollHeight;
    var streamed = "";
    var body = { model: model, stream: true, messages: history.concat([{ role: "user", content: question }]) };
    send.disabled = true;
    return fetch("/v1/chat/completions", { method: "POST", headers: headers(), body: JSON.stringify(body) })
      .then(function (response) {
        if (!response.ok) {
          return response.json().then(function (e) { throw new Error((e.error && e.error.message) || response.statusText); });
        }
        return readEvents(response, function (payload) {
          if (payload === "[DONE]") return;
          var chunk = JSON.parse(payload);
          if (chunk.error) throw new Error(chunk.error.message);
          var choice = chunk.choices && chunk.choices[0];
          if (!choice) return;
          var delta = choice.delta || {};
          if (choice.finish_reason && delta.policy_qa) {
            // The checked answer replaces the streamed text; its sources become buttons.
            text.textContent = delta.policy_qa.answer;
            if (delta.policy_qa.notice) bubble.appendChild(element("div", "notice", "注意：" + delta.policy_qa.notice));
            showSources(bubble, delta.citations);
            history.push({ role: "user", content: question }, { role: "assistant", content: delta.policy_qa.answer });
            history = history.slice(-MAX_HISTORY); // the server reads no more of a conversation
          } else if (delta.content) {
            streamed += delta.content;
            text.textContent = streamed;
          }
          messages.scrollTop = messages.scrollHeight;
        });
      })
      .catch(function (error) {
        text.textContent = "出错了：" + error.message;
        text.className = "answer-text error";
      })
      .then(function () { send.disabled = false; input.focus(); });
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var question = input.value.trim();
    if (!question || send.disabled) return;
    input.value = "";
    ask(question);
  });
  input.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) { event.preventDefault(); form.requestSubmit(); }
  });
})();
