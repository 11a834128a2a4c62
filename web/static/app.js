// Automation Hub web UI: the live log viewer, form hints, confirmations and
// the CSRF header for htmx requests. Plain JavaScript, no build step.
(function () {
  "use strict";

  var csrf = document.body.dataset.csrf || "";

  // htmx requests carry the session's CSRF token.
  document.body.addEventListener("htmx:configRequest", function (e) {
    if (csrf) e.detail.headers["X-CSRF-Token"] = csrf;
  });

  // Times arrive in UTC; show them in the reader's time zone and language.
  var lang = document.documentElement.lang || undefined;
  function localTimes(root) {
    root.querySelectorAll("time[datetime]").forEach(function (el) {
      var d = new Date(el.getAttribute("datetime"));
      if (isNaN(d.getTime())) return;
      el.title = el.textContent;
      el.textContent = d.toLocaleString(lang, { year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit" });
    });
  }
  localTimes(document);
  document.body.addEventListener("htmx:afterSwap", function (e) { localTimes(e.detail.elt.parentNode || document); });

  // Forms with data-confirm ask before they submit.
  document.addEventListener("submit", function (e) {
    var f = e.target;
    if (f.dataset && f.dataset.confirm && !window.confirm(f.dataset.confirm)) {
      e.preventDefault();
      e.stopImmediatePropagation();
    }
  }, true);

  // Client-side hints for service forms: the browser's constraint checks
  // (required, pattern, min/max, lengths), shown next to each field. The
  // server checks everything again.
  function fieldMessage(input, box) {
    var v = input.validity;
    if (v.valid) return "";
    if (v.valueMissing) return box.dataset.msgRequired;
    if (v.patternMismatch) return box.dataset.msgPattern;
    if (v.rangeUnderflow || v.rangeOverflow || v.tooShort || v.tooLong) return box.dataset.msgRange;
    return box.dataset.msgType;
  }
  function checkField(input) {
    var wrap = input.closest(".field");
    if (!wrap) return true;
    var box = wrap.querySelector(".field-error");
    if (!box) return true;
    var msg = fieldMessage(input, box);
    box.textContent = msg;
    box.hidden = !msg;
    wrap.classList.toggle("has-error", !!msg);
    input.setAttribute("aria-invalid", msg ? "true" : "false");
    return !msg;
  }
  document.querySelectorAll("form[data-validate]").forEach(function (form) {
    form.addEventListener("submit", function (e) {
      var first = null;
      form.querySelectorAll("input, select, textarea").forEach(function (el) {
        if (el.type === "hidden") return;
        if (!checkField(el) && !first) first = el;
      });
      if (first) {
        e.preventDefault();
        first.focus();
      }
    });
    form.addEventListener("input", function (e) {
      if (e.target.closest(".has-error")) checkField(e.target);
    });
  });

  // ---- Live log viewer -------------------------------------------------
  // Lines are kept in arrays and only the visible window is in the DOM, so
  // a million-line log scrolls as smoothly as a short one. Very tall logs
  // are mapped onto a scroll range browsers can handle.
  var MAX_PX = 8000000;

  function LogViewer(el) {
    this.el = el;
    this.spacer = el.querySelector(".log-spacer");
    this.win = el.querySelector(".log-window");
    this.msgs = [];
    this.levels = [];
    this.lastSeq = 0;
    this.ended = false;
    this.retry = 0;
    this.dirty = false;
    this.state = document.getElementById("log-state");
    this.follow = document.getElementById("log-follow");
    this.count = document.getElementById("log-count");
    this.lineHeight = 0;
    this.programmatic = false;
    var self = this;
    el.addEventListener("scroll", function () {
      if (self.programmatic) { self.programmatic = false; } else if (self.follow && self.follow.checked && !self.atBottom()) {
        self.follow.checked = false; // the reader scrolled up: pause following
      }
      self.schedule();
    });
    if (this.follow) {
      this.follow.addEventListener("change", function () { if (self.follow.checked) self.schedule(); });
    }
    window.addEventListener("resize", function () { self.schedule(); });
    this.schedule();
    this.catchUp();
  }

  LogViewer.prototype.setState = function (key) {
    if (!this.state) return;
    this.state.textContent = this.state.dataset[key] || key;
    this.state.dataset.state = key;
  };

  LogViewer.prototype.atBottom = function () {
    return this.el.scrollHeight - this.el.scrollTop - this.el.clientHeight < 4;
  };

  // add appends one log line unless it was shown already; it returns false
  // on a gap (a line is missing before it).
  LogViewer.prototype.add = function (f) {
    if (typeof f.seq !== "number" || f.seq <= this.lastSeq) return true; // already shown
    if (f.seq !== this.lastSeq + 1) return false;
    this.lastSeq = f.seq;
    this.msgs.push(f.message);
    this.levels.push(f.level === "ERROR" ? 2 : f.level === "WARN" ? 1 : 0);
    return true;
  };

  // catchUp loads the stored log in pages of the API's maximum size (much
  // faster than one socket frame per line for long logs), then follows the
  // live socket from the last line it has.
  LogViewer.prototype.catchUp = function () {
    var self = this;
    var page = 5000;
    fetch(this.el.dataset.logUrl + "?after_seq=" + this.lastSeq + "&limit=" + page, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) {
        if (r.status === 401) { location.reload(); throw new Error("signed out"); }
        if (r.status === 403 || r.status === 404) { self.setState("ended"); throw new Error("gone"); }
        if (!r.ok) throw new Error("HTTP " + r.status);
        return r.json();
      })
      .then(function (lines) {
        for (var i = 0; i < lines.length; i++) self.add(lines[i]);
        self.schedule();
        if (self.ended) {
          // The run has ended: fetch up to its final line, then stop.
          if (self.lastSeq < self.finalSeq && lines.length > 0) { self.catchUp(); } else { self.finish(); }
          return;
        }
        if (lines.length === page) { self.catchUp(); } else { self.connect(); }
      })
      .catch(function (err) {
        if (err.message === "signed out" || err.message === "gone") return;
        self.retryLater();
      });
  };

  LogViewer.prototype.retryLater = function () {
    var self = this;
    this.setState("reconnecting");
    var wait = Math.min(10000, 500 * Math.pow(2, this.retry++));
    setTimeout(function () { self.catchUp(); }, wait);
  };

  LogViewer.prototype.connect = function () {
    var self = this;
    var proto = location.protocol === "https:" ? "wss://" : "ws://";
    var ws = new WebSocket(proto + location.host + this.el.dataset.socket + "?after_seq=" + this.lastSeq);
    this.ws = ws;
    this.connects = (this.connects || 0) + 1;
    var burstStart = Date.now(), burst = 0;
    ws.onopen = function () { self.retry = 0; self.setState("live"); };
    ws.onmessage = function (ev) {
      // A robot printing thousands of lines a second is cheaper to follow
      // in pages than frame by frame: switch to catch-up, then come back.
      if (++burst > 2000) {
        if (Date.now() - burstStart < 1000) { self.switching = true; ws.close(); return; }
        burst = 0;
        burstStart = Date.now();
      }
      var f;
      try { f = JSON.parse(ev.data); } catch (err) { return; }
      if (f.type === "status") {
        self.ended = true;
        self.finalStatus = f.status;
        self.finalSeq = typeof f.last_seq === "number" ? f.last_seq : 0;
        return;
      }
      // On a gap, reconnect from the last line shown; the server fills it.
      if (!self.add(f)) { ws.close(); return; }
      self.schedule();
    };
    ws.onclose = function (ev) {
      if (self.switching && !self.ended) { self.switching = false; self.catchUp(); return; }
      if (self.ended) {
        // The server sends every line before the status frame, but lines
        // this viewer skipped while switching are fetched before "ended".
        if (self.lastSeq < self.finalSeq) { self.catchUp(); } else { self.finish(); }
        return;
      }
      if (ev.code === 4401) { location.reload(); return; }
      if (ev.code === 4403 || ev.code === 4404) { self.setState("ended"); return; }
      self.retryLater();
    };
  };

  // finish shows the end of the run once every line up to its last is held.
  LogViewer.prototype.finish = function () {
    this.setState("ended");
    document.body.dispatchEvent(new CustomEvent("hub:run-ended", { detail: { status: this.finalStatus } }));
  };

  LogViewer.prototype.schedule = function () {
    if (this.dirty) return;
    this.dirty = true;
    var self = this;
    window.requestAnimationFrame(function () { self.dirty = false; self.render(); });
  };

  LogViewer.prototype.row = function (i) {
    var div = document.createElement("div");
    div.className = "line" + (this.levels[i] === 2 ? " stderr" : this.levels[i] === 1 ? " warn" : "");
    var n = document.createElement("span");
    n.className = "seq";
    n.textContent = String(i + 1);
    div.appendChild(n);
    div.appendChild(document.createTextNode(this.msgs[i] === "" ? "\u00a0" : this.msgs[i]));
    if (this.levels[i] === 2) div.title = "stderr";
    return div;
  };

  LogViewer.prototype.render = function () {
    var n = this.msgs.length;
    if (!this.lineHeight) {
      var probe = this.row(0 < n ? 0 : -1);
      probe.textContent = "x";
      this.win.appendChild(probe);
      this.lineHeight = probe.getBoundingClientRect().height || 18;
      this.win.removeChild(probe);
    }
    var lh = this.lineHeight;
    var view = this.el.clientHeight;
    var total = n * lh;
    var height = Math.min(total, MAX_PX);
    this.spacer.style.height = height + "px";
    if (this.follow && this.follow.checked && height > view) {
      var bottom = height - view;
      if (Math.abs(this.el.scrollTop - bottom) > 1) {
        this.programmatic = true;
        this.el.scrollTop = bottom;
      }
    }
    var top = this.el.scrollTop;
    var scale = total > MAX_PX ? (total - view) / Math.max(1, MAX_PX - view) : 1;
    var vtop = top * scale;
    var first = Math.max(0, Math.floor(vtop / lh));
    var offset = vtop - first * lh;
    var visible = Math.ceil(view / lh) + 2;
    var frag = document.createDocumentFragment();
    for (var i = first; i < Math.min(n, first + visible); i++) frag.appendChild(this.row(i));
    this.win.replaceChildren(frag);
    this.win.style.transform = "translateY(" + (top - offset) + "px)";
    if (n === 0) {
      var empty = document.createElement("div");
      empty.className = "line muted";
      empty.textContent = this.el.dataset.empty;
      this.win.replaceChildren(empty);
    }
    if (this.count) this.count.textContent = n.toLocaleString() + " " + this.count.dataset.label;
    this.el.dataset.lines = String(n);
  };

  var logEl = document.getElementById("log");
  if (logEl && "WebSocket" in window) window.hubLog = new LogViewer(logEl);
})();
