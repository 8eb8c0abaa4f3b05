/* Asana simulator demo task page.
 *
 * Renders App Components the way Asana's web client does: every request goes from this
 * browser straight to the app server (so CORS is real); the simulator backend only supplies
 * the signature (/_sim/app-components/sign) and checks the response against the spec
 * (/_sim/app-components/validate). A response Asana could not use shows Asana's
 * "Something went wrong. Try again later." (reference §10.1).
 *
 * A 401 {"error"} from the app means "the user must authenticate" (the project's choice,
 * UNCONFIRMED by Asana): the page opens the Authentication URL in a popup and, once the
 * popup posts "success", sends the call again. Rule runs come from Asana's servers, so the
 * page asks the simulator to run them (/_sim/rules/<action>/run).
 */
(function () {
  "use strict";

  var CFG = JSON.parse(document.getElementById("sim-config").textContent);
  var SOMETHING_WRONG = "Something went wrong. Try again later.";
  var RICH_TAGS = ["B", "STRONG", "I", "EM", "U", "S", "CODE", "A", "UL", "OL", "LI", "P", "BR",
    "BLOCKQUOTE", "PRE", "H1", "H2", "HR"];
  var APP = CFG.app_name || "the app";

  function $(id) { return document.getElementById(id); }

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") node.textContent = attrs[k];
      else if (k === "className") node.className = attrs[k];
      else if (attrs[k] !== undefined && attrs[k] !== null && attrs[k] !== false) node.setAttribute(k, attrs[k]);
    });
    (children || []).forEach(function (c) { if (c) node.appendChild(c); });
    return node;
  }

  /* A message appears where the user acted, never at the bottom of the page out of view:
     next to the control that caused it (`near`, or the row of the button last clicked),
     scrolled into view. An error is a fresh role=alert, so screen readers announce it. */
  var lastAnchor = null;

  function anchorOf(node) {
    return node.closest(".rule, .rule-options, .upload-form, .auth-prompt, .pane-actions, " +
                        ".section-head, section.widgets") || node;
  }

  document.addEventListener("click", function (ev) {
    var button = ev.target.closest && ev.target.closest("button");
    if (button && !$("modal").contains(button)) lastAnchor = anchorOf(button);
  }, true);

  function status(text, bad, near) {
    var old = $("status");
    var msg = el("p", {id: "status", role: bad ? "alert" : "status",
                       className: "status near" + (bad ? " bad" : ""), text: text || ""});
    var anchor = near || lastAnchor;
    if (!anchor || !document.body.contains(anchor)) anchor = document.querySelector(".pane-actions");
    old.parentNode.removeChild(old);
    if (anchor.tagName === "LI") anchor.appendChild(msg);
    else anchor.parentNode.insertBefore(msg, anchor.nextSibling);
    if (text) msg.scrollIntoView({block: "nearest"});
  }

  /* "Connect Jira" says so once the user is connected: an App Components answer other than
     a 401 proves it, a 401 undoes it. */
  function markConnected(yes) {
    var button = $("connect");
    if (!button || button.getAttribute("data-connected") === String(yes)) return;
    button.setAttribute("data-connected", String(yes));
    button.textContent = yes ? "\u2713 " + APP + " connected" : "Connect " + APP;
    if (yes) button.title = "Connect " + APP + " again (another Jira account)";
    else button.removeAttribute("title");
  }

  function postJSON(url, body, method) {
    return fetch(url, {
      method: method || "POST", headers: {"Content-Type": "application/json"},
      body: body === undefined ? undefined : JSON.stringify(body)
    }).then(function (r) {
      return r.json().then(function (data) { data._status = r.status; return data; });
    });
  }

  /* ---- one App Components call: sign on the simulator, send from the browser, validate - */

  function callOnce(kind, params) {
    var payload = Object.assign({kind: kind, task: CFG.task, user: CFG.user,
                                 workspace: CFG.workspace}, params || {});
    delete payload.interactive;
    return postJSON("/_sim/app-components/sign", payload).then(function (req) {
      if (req.error) throw new Error(req.error);
      return fetch(req.url, {method: req.method, headers: req.headers, body: req.body,
                             mode: "cors", credentials: "omit"});
    }).then(function (resp) {
      var ct = resp.headers.get("Content-Type") || "";
      var read = ct.indexOf("json") >= 0 ? resp.json() : resp.text();
      return read.then(function (body) {
        return postJSON("/_sim/app-components/validate",
                        {kind: kind, status: resp.status, body: body, content_type: ct})
          .then(function (check) {
            return {status: resp.status, body: body, valid: check.ok, problem: check};
          });
      });
    }).catch(function (err) {
      return {status: 0, body: null, valid: false, problem: {message: String(err)}};
    });
  }

  /* A 401 {"error"} asks for the Authentication URL; after "success" the call goes again.
     Calls made without a user's action (widgets on page load) pass interactive: false and
     show a Connect button instead of opening a popup by themselves. */
  function callApp(kind, params) {
    return callOnce(kind, params).then(function (res) {
      if (res.valid && res.status >= 200 && res.status < 300) markConnected(true);
      else if (res.valid && res.status === 401) markConnected(false);
      var interactive = !params || params.interactive !== false;
      if (!(res.status === 401 && res.valid && interactive)) return res;
      return ensureAuth(res.body.error).then(function (ok) {
        if (!ok) { res.authFailed = true; return res; }
        return callOnce(kind, params);
      });
    });
  }

  function reportInvalid(result) {
    if (result.problem && result.problem.path !== undefined) {
      console.warn("App Components response rejected:", result.problem.path, result.problem.message);
    }
  }

  function errorText(res) {
    if (res.valid && res.body && typeof res.body.error === "string") return res.body.error;
    return SOMETHING_WRONG;
  }

  /* ---- authentication (reference §7.1) ------------------------------------------------ */

  var pendingAuth = null;

  function openPopup() {
    if (!CFG.auth_url) return null;
    var w = window.open(CFG.auth_url, "asana_app_auth", "width=620,height=720");
    status(w ? "Waiting for " + APP + " to finish authorization…"
             : "The browser blocked the popup: press Connect " + APP + ".", !w);
    return w;
  }

  function showAuthPrompt(message) {
    $("auth-prompt-text").textContent = (message || "") + " Connect " + APP + " to continue.";
    $("auth-prompt").hidden = false;
  }

  function hideAuthPrompt() { $("auth-prompt").hidden = true; }

  function ensureAuth(message) {
    if (!pendingAuth) {
      var p = {};
      p.promise = new Promise(function (resolve) { p.resolve = resolve; });
      pendingAuth = p;
      showAuthPrompt(message);
      openPopup();
    }
    return pendingAuth.promise;
  }

  function settleAuth(ok) {
    hideAuthPrompt();
    if (pendingAuth) { var p = pendingAuth; pendingAuth = null; p.resolve(ok); }
  }

  window.addEventListener("message", function (ev) {
    // Asana accepts the message only from the origin of the registered Authentication URL.
    if (ev.origin !== CFG.bridge_origin) return;
    if (ev.data === "success") {
      status(APP + " is connected.");
      document.body.setAttribute("data-auth", "success");
      markConnected(true);
      settleAuth(true);
      loadWidgets();
    } else if (ev.data === "error") {
      status(APP + " was not connected.", true);
      document.body.setAttribute("data-auth", "error");
      settleAuth(false);
    }
  });

  /* ---- dates ------------------------------------------------------------------------ */

  function relative(iso) {
    var t = Date.parse(iso);
    if (isNaN(t)) return iso;
    var diff = (t - Date.now()) / 1000, abs = Math.abs(diff);
    var units = [["year", 31536000], ["month", 2592000], ["week", 604800], ["day", 86400],
                 ["hour", 3600], ["minute", 60]];
    for (var i = 0; i < units.length; i++) {
      if (abs >= units[i][1]) {
        var n = Math.round(abs / units[i][1]);
        var label = n + " " + units[i][0] + (n === 1 ? "" : "s");
        return diff < 0 ? label + " ago" : "in " + label;
      }
    }
    return "just now";
  }

  function icon(url) { return url ? el("img", {src: url, alt: ""}) : null; }

  /* ---- widget (summary_with_details_v0) ------------------------------------------------ */

  function renderWidget(meta, resourceUrl, attachmentGid) {
    var head = el("div", {className: "widget-head"}, [
      el("span", {className: "app-icon", "aria-hidden": "true", text: "J"}),
      el("div", {}, [
        el("a", {className: "widget-title", href: resourceUrl, target: "_blank", rel: "noopener",
                 text: meta.title}),
        el("div", {className: "widget-subtitle"}, [
          icon(meta.subicon_url),
          el("span", {text: (meta.subtitle || APP) + " · Open in " + APP})
        ])
      ])
    ]);
    var fields = el("dl", {className: "widget-fields"});
    meta.fields.forEach(function (f) {
      var value;
      if (f.type === "pill") {
        value = el("span", {className: "pill pill-" + f.color, text: f.text});
      } else if (f.type === "text_with_icon") {
        value = el("span", {}, [icon(f.icon_url), el("span", {text: f.text})]);
      } else {
        value = el("span", {}, [icon(f.icon_url),
          el("time", {datetime: f.datetime || "", title: f.datetime || "",
                      text: f.datetime ? relative(f.datetime) : "—"})]);
      }
      fields.appendChild(el("dt", {className: "widget-field-name", text: f.name}));
      fields.appendChild(el("dd", {className: "widget-field-value widget-field type-" + f.type}, [value]));
    });
    var ft = meta.footer, footerText;
    if (ft.footer_type === "updated") footerText = "Updated " + relative(ft.last_updated_at);
    else if (ft.footer_type === "created") footerText = "Created " + relative(ft.created_at);
    else footerText = ft.text;
    var footer = el("div", {className: "widget-footer"}, [
      el("span", {}, [icon(ft.icon_url), el("span", {className: "footer-text", text: footerText})]),
      meta.num_comments !== undefined
        ? el("span", {className: "comments",
                  text: meta.num_comments + (meta.num_comments === 1 ? " comment" : " comments")}) : null
    ]);
    return el("article", {className: "widget", "data-attachment": attachmentGid,
                          "aria-label": meta.title}, [head, fields, footer]);
  }

  var widgetLoads = 0;

  function loadWidgets() {
    var box = $("widgets");
    if (!CFG.bridge_origin) { box.setAttribute("data-loaded", "true"); return Promise.resolve(); }
    var mine = ++widgetLoads;
    box.setAttribute("data-loaded", "false");
    return fetch("/demo/task/" + CFG.task + "/widgets").then(function (r) { return r.json(); })
      .then(function (list) {
        return Promise.all(list.map(function (att) {
          return callApp("widget", {attachment: att.gid, interactive: false}).then(function (res) {
            return {att: att, res: res};
          });
        }));
      }).then(function (done) {
        if (mine !== widgetLoads) return;  // a newer load started meanwhile
        box.textContent = "";
        if (!done.length) {
          box.appendChild(el("p", {className: "muted widgets-empty",
            text: "No Jira issue is linked to this task yet. Link one or create one from the " +
                  APP + " menu above."}));
        }
        done.forEach(function (d) {
          var res = d.res, att = d.att, slot = el("div", {className: "widget-slot"});
          box.appendChild(slot);
          if (res.status === 200 && res.valid) {
            slot.appendChild(renderWidget(res.body.metadata, att.url, att.gid));
            return;
          }
          reportInvalid(res);
          var card = el("article", {className: "widget error", "data-attachment": att.gid});
          if (res.status === 401 && res.valid) {
            card.appendChild(el("p", {text: errorText(res)}));
            var btn = el("button", {type: "button", className: "primary widget-connect",
                                    text: "Connect " + APP});
            btn.addEventListener("click", function () {
              ensureAuth(res.body.error);
            });
            card.appendChild(btn);
          } else {
            card.appendChild(el("p", {text: SOMETHING_WRONG}));
          }
          slot.appendChild(card);
        });
        box.setAttribute("data-loaded", "true");
      });
  }

  /* ---- attachments ------------------------------------------------------------------- */

  function loadAttachments() {
    return fetch("/demo/task/" + CFG.task + "/attachments").then(function (r) { return r.json(); })
      .then(function (list) {
        var ul = $("attachment-list");
        ul.textContent = "";
        list.forEach(function (a) {
          var remove = el("button", {type: "button", className: "link-button remove-attachment",
                                     "aria-label": "Remove " + a.name, text: "Remove"});
          remove.addEventListener("click", function () { removeAttachment(a); });
          ul.appendChild(el("li", {className: "attachment " + a.resource_subtype, "data-gid": a.gid}, [
            el("span", {className: "file-icon" + (a.host === "asana" ? "" : " link"), text: a.kind}),
            el("a", {href: a.link, target: "_blank", rel: "noopener", text: a.name}),
            el("span", {className: "muted", text: a.size_label}),
            remove
          ]));
        });
        ul.setAttribute("data-count", String(list.length));
      });
  }

  function removeAttachment(a) {
    return postJSON("/_sim/attachments/" + a.gid, undefined, "DELETE").then(function () {
      // What the lookup said about this task (e.g. its issue limit) may no longer hold.
      $("lookup-error").hidden = true;
      status("Removed " + a.name, false, $("attachment-list"));
      return Promise.all([loadAttachments(), loadWidgets()]);
    });
  }

  function attachResource(resource) {
    return postJSON("/_sim/tasks/" + CFG.task + "/attach-resource",
                    {resource_name: resource.resource_name, resource_url: resource.resource_url})
      .then(function () { return Promise.all([loadAttachments(), loadWidgets()]); });
  }

  function upload(ev) {
    ev.preventDefault();
    var input = $("upload-file");
    if (!input.files.length) { status("Choose a file first.", true); input.focus(); return; }
    var data = new FormData();
    data.append("file", input.files[0]);
    fetch("/_sim/tasks/" + CFG.task + "/attachments", {method: "POST", body: data})
      .then(function (r) { return r.json(); })
      .then(function (made) {
        if (made.error) { status(made.error, true); return; }
        input.value = "";
        status("Attached " + made.name);
        return loadAttachments();
      });
  }

  /* ---- typeahead list (lookup and form fields), keyboard included --------------------- */

  function renderTypeahead(container, input, body, onPick) {
    container.textContent = "";
    if (body.header) container.appendChild(el("div", {className: "typeahead-header", text: body.header}));
    if (!body.items.length) container.appendChild(el("div", {className: "typeahead-empty", text: "No results"}));
    var list = el("ul", {className: "typeahead-list"});
    body.items.forEach(function (item) {
      var row = el("button", {type: "button", className: "typeahead-item", "data-value": item.value}, [
        icon(item.icon_url),
        el("span", {className: "typeahead-text"}, [
          el("span", {className: "typeahead-title", text: item.title}),
          item.subtitle ? el("span", {className: "typeahead-sub", text: item.subtitle}) : null])
      ]);
      row.addEventListener("mousedown", function (ev) { ev.preventDefault(); });  // keep focus
      row.addEventListener("click", function () { onPick(item); });
      row.addEventListener("keydown", function (ev) {
        var rows = container.querySelectorAll(".typeahead-item");
        var i = Array.prototype.indexOf.call(rows, row);
        if (ev.key === "ArrowDown" && i + 1 < rows.length) { ev.preventDefault(); rows[i + 1].focus(); }
        if (ev.key === "ArrowUp") { ev.preventDefault(); (i > 0 ? rows[i - 1] : input).focus(); }
        if (ev.key === "Escape") { container.hidden = true; input.focus(); }
      });
      list.appendChild(el("li", {}, [row]));
    });
    container.appendChild(list);
    container.hidden = false;
  }

  function typeaheadKeys(input, container) {
    input.addEventListener("keydown", function (ev) {
      if (ev.key === "ArrowDown" && !container.hidden) {
        var first = container.querySelector(".typeahead-item");
        if (first) { ev.preventDefault(); first.focus(); }
      }
    });
    // Hide the list when focus leaves the box, not when it moves into the list.
    input.parentNode.addEventListener("focusout", function (ev) {
      if (!ev.relatedTarget || !input.parentNode.contains(ev.relatedTarget)) {
        setTimeout(function () {
          if (!input.parentNode.contains(document.activeElement)) container.hidden = true;
        }, 150);
      }
    });
  }

  function debounce(fn, ms) {
    var t;
    return function () {
      var args = arguments;
      clearTimeout(t);
      t = setTimeout(function () { fn.apply(null, args); }, ms);
    };
  }

  /* ---- lookup ------------------------------------------------------------------------ */

  function openLookup() {
    $("lookup").hidden = false;
    $("lookup-input").focus();
  }

  /* Shown above the input, with the results list closed, so nothing covers it. */
  function lookupError(text) {
    var err = $("lookup-error");
    $("lookup-results").hidden = true;
    err.textContent = text;
    err.hidden = false;
    err.scrollIntoView({block: "nearest"});
  }

  function lookupAttach(query) {
    $("lookup-error").hidden = true;
    return callApp("lookup_attach", {query: query}).then(function (res) {
      if (res.status === 200 && res.valid && !res.body.error) {
        $("lookup").hidden = true;
        $("lookup-input").value = "";
        $("lookup-results").hidden = true;
        status("Linked " + res.body.resource_name, false, $("widgets"));
        return attachResource(res.body);
      }
      reportInvalid(res);
      lookupError(errorText(res));
    });
  }

  var lookupSearch = debounce(function (query) {
    callApp("lookup_typeahead", {query: query}).then(function (res) {
      if (res.status === 200 && res.valid) {
        $("lookup-error").hidden = true;
        renderTypeahead($("lookup-results"), $("lookup-input"), res.body,
                        function (item) { lookupAttach(item.value); });
      } else {
        reportInvalid(res);
        lookupError(errorText(res));
      }
    });
  }, 200);

  /* ---- forms (form_metadata_v0): the modal form and the rule-action form -------------- */

  var form = null;  // {meta, values, rule: null | {action, action_type, project, editing}}

  function sanitize(html) {
    var doc = new DOMParser().parseFromString(html || "", "text/html");
    (function clean(node) {
      Array.prototype.slice.call(node.childNodes).forEach(function (child) {
        if (child.nodeType === 1) {
          if (RICH_TAGS.indexOf(child.tagName) < 0) {
            clean(child);
            while (child.firstChild) node.insertBefore(child.firstChild, child);
            node.removeChild(child);
            return;
          }
          Array.prototype.slice.call(child.attributes).forEach(function (a) {
            if (!(child.tagName === "A" && a.name === "href" && /^https?:/i.test(a.value))) {
              child.removeAttribute(a.name);
            }
          });
          clean(child);
        } else if (child.nodeType !== 3) {
          node.removeChild(child);
        }
      });
    })(doc.body);
    return doc.body.innerHTML;
  }

  /* Rule-action calls carry the action's ids and no task (reference §5.4). */
  function ruleParams(extra) {
    var r = form.rule;
    return Object.assign({task: null, project: r.project, action_type: r.action_type,
                          action: r.editing || r.sent_action ? r.action : undefined}, extra);
  }

  function fieldValue(f) {
    var v = form.values[f.id];
    return v === undefined ? null : v;
  }

  function setValue(f, v) {
    form.values[f.id] = v;
    if (f.is_watched && form.meta.on_change_callback) onWatchedChange(f.id);
  }

  function labelFor(f, inputId) {
    var label = el("label", {"for": inputId, id: inputId + "-label", text: f.name || f.id});
    if (f.is_required) label.appendChild(el("span", {className: "required", "aria-hidden": "true", text: " *"}));
    return label;
  }

  function renderField(f) {
    var wrap = el("div", {className: "form-field " + f.type + (f.width === "half" ? " half" : "") +
                          (f.error ? " has-error" : ""), "data-field": f.id});
    if (f.type === "static_text") {
      wrap.appendChild(el("div", {className: "static-text " + (f.style || "default"), text: f.name}));
      return wrap;
    }
    var inputId = "field-" + f.id, errorId = inputId + "-error";
    var v = fieldValue(f), input;
    var described = f.error ? errorId : null;
    if (f.type === "radio_button" || f.type === "checkbox") {
      input = el("fieldset", {id: inputId, "aria-describedby": described}, [
        el("legend", {text: (f.name || f.id) + (f.is_required ? " *" : "")})]);
      f.options.forEach(function (o) {
        var checked = f.type === "checkbox" ? (v || []).indexOf(o.id) >= 0 : v === o.id;
        var box = el("input", {type: f.type === "checkbox" ? "checkbox" : "radio", name: inputId,
                               value: o.id, checked: checked ? "checked" : null});
        box.addEventListener("change", function () {
          if (f.type === "checkbox") {
            var chosen = Array.prototype.slice.call(input.querySelectorAll("input:checked"))
              .map(function (b) { return b.value; });
            setValue(f, chosen);
          } else {
            setValue(f, o.id);
          }
        });
        input.appendChild(el("label", {className: "option"}, [box, el("span", {text: o.label}),
          o.sub_label ? el("span", {className: "sub", text: o.sub_label}) : null]));
      });
      wrap.appendChild(input);
    } else if (f.type === "rich_text") {
      wrap.appendChild(el("div", {className: "label", id: inputId + "-label", text: f.name || f.id}));
      input = el("div", {id: inputId, className: "rich-text", contenteditable: "true", tabindex: "0",
                         role: "textbox", "aria-multiline": "true", "aria-labelledby": inputId + "-label",
                         "aria-describedby": described, "aria-required": f.is_required ? "true" : null,
                         "data-placeholder": f.placeholder});
      input.innerHTML = sanitize((v || "").replace(/<\/?body>/gi, ""));
      input.addEventListener("input", function () {
        form.values[f.id] = "<body>" + input.innerHTML + "</body>";
      });
      input.addEventListener("blur", function () { if (f.is_watched) setValue(f, form.values[f.id]); });
      wrap.appendChild(input);
    } else {
      wrap.appendChild(labelFor(f, inputId));
      var common = {id: inputId, "aria-describedby": described,
                    "aria-required": f.is_required ? "true" : null,
                    "aria-invalid": f.error ? "true" : null};
      if (f.type === "single_line_text" || f.type === "multi_line_text") {
        input = el(f.type === "single_line_text" ? "input" : "textarea", Object.assign(common,
                   {type: f.type === "single_line_text" ? "text" : null, placeholder: f.placeholder,
                    maxlength: f.type === "single_line_text" ? 200 : 3000}));
        input.value = v || "";
        input.addEventListener("change", function () { setValue(f, input.value); });
        input.addEventListener("input", function () { form.values[f.id] = input.value; });
      } else if (f.type === "dropdown") {
        input = el("select", common, [el("option", {value: "", text: "Select…"})]);
        f.options.forEach(function (o) {
          input.appendChild(el("option", {value: o.id, text: o.label, selected: o.id === v ? "selected" : null}));
        });
        input.addEventListener("change", function () { setValue(f, input.value || null); });
      } else if (f.type === "date") {
        input = el("input", Object.assign(common, {type: "date"}));
        input.value = v ? String(v).slice(0, 10) : "";
        input.addEventListener("change", function () {
          // Asana sends the local midnight as an ISO 8601 UTC string (reference §3.2 example).
          var p = input.value.split("-");
          setValue(f, input.value ? new Date(+p[0], +p[1] - 1, +p[2]).toISOString() : null);
        });
      } else if (f.type === "datetime") {
        input = el("input", Object.assign(common, {type: "datetime-local"}));
        if (v) {
          var d = new Date(v);
          input.value = new Date(d.getTime() - d.getTimezoneOffset() * 60000).toISOString().slice(0, 16);
        }
        input.addEventListener("change", function () {
          setValue(f, input.value ? new Date(input.value).toISOString() : null);
        });
      } else if (f.type === "typeahead") {
        input = el("div", {className: "lookup-box"});
        var text = el("input", Object.assign(common, {type: "text", autocomplete: "off",
                                                      placeholder: f.placeholder || "Search"}));
        var results = el("div", {className: "typeahead", hidden: "hidden"});
        var chosen = el("div", {className: "chosen", hidden: v ? null : "hidden",
                                "aria-live": "polite"});
        if (v) chosen.appendChild(el("span", {text: "Chosen: " + v.title}));
        var search = debounce(function (q) {
          var params = form.rule ? ruleParams({url: f.typeahead_url, query: q})
                                 : {url: f.typeahead_url, query: q};
          callApp("typeahead", params).then(function (res) {
            if (res.status === 200 && res.valid) {
              renderTypeahead(results, text, res.body, function (item) {
                results.hidden = true;
                text.value = "";
                chosen.textContent = "";
                chosen.appendChild(el("span", {text: "Chosen: " + item.title}));
                chosen.hidden = false;
                text.focus();
                setValue(f, item);
              });
            } else { reportInvalid(res); results.hidden = true; }
          });
        }, 200);
        text.addEventListener("input", function () { search(text.value); });
        input.appendChild(text);
        input.appendChild(results);
        input.appendChild(chosen);
        typeaheadKeys(text, results);
      }
      wrap.appendChild(input);
    }
    if (f.error) wrap.appendChild(el("p", {className: "field-error", id: errorId, text: f.error}));
    return wrap;
  }

  var opener = null;  // the element focused before the modal opened

  function renderForm(meta, rule) {
    var values = {};
    meta.fields.forEach(function (f) {
      if (f.type !== "static_text" && f.value !== undefined && f.value !== null) values[f.id] = f.value;
    });
    var wasOpen = !$("modal").hidden;
    form = {meta: meta, values: values, rule: rule === undefined ? (form && form.rule) : rule};
    $("modal-title").textContent = meta.title;
    $("rule-name-row").hidden = !form.rule;
    var box = $("modal-form");
    var focusedId = document.activeElement && document.activeElement.id;
    box.textContent = "";
    meta.fields.forEach(function (f) { box.appendChild(renderField(f)); });
    $("modal-submit").disabled = !meta.on_submit_callback;
    $("modal-submit").textContent = meta.submit_button_text || (form.rule ? "Save rule" : "Submit");
    $("modal-error").hidden = true;
    $("modal").hidden = false;
    if (!wasOpen) {
      opener = document.activeElement;
      setInert(true);
      var first = box.querySelector("input, select, textarea, [contenteditable]") || $("modal-close");
      if (form.rule) first = $("rule-name");
      first.focus();
    } else if (focusedId && $(focusedId)) {
      $(focusedId).focus();  // a re-rendered form keeps the user's place
    } else {
      var errored = box.querySelector("[aria-invalid=true], .has-error input, .has-error select");
      if (errored) errored.focus();
    }
  }

  /* While the dialog is open the page behind it takes no focus and no clicks. */
  function setInert(on) {
    Array.prototype.forEach.call(document.querySelectorAll("body > header, body > main"),
      function (n) { n.inert = on; if (on) n.setAttribute("aria-hidden", "true"); else n.removeAttribute("aria-hidden"); });
  }

  function closeModal() {
    setInert(false);
    $("modal").hidden = true;
    form = null;
    if (opener && opener.focus) opener.focus();
    opener = null;
  }

  function formError(text) {
    $("modal-error").textContent = text;
    $("modal-error").hidden = false;
    $("modal-error").scrollIntoView({block: "nearest"});
  }

  function onWatchedChange(fieldId) {
    var values = Object.assign({}, form.values);
    var kind = form.rule ? "rule_change" : "form_change";
    var params = {url: form.meta.on_change_callback, values: values, changed_field: fieldId};
    callApp(kind, form.rule ? ruleParams(params) : params).then(function (res) {
      if ((res.status === 200 || res.status === 400) && res.valid && res.body.metadata) {
        renderForm(res.body.metadata);
      } else { reportInvalid(res); formError(errorText(res)); }
    });
  }

  function openForm() {
    status("");
    callApp("form_metadata").then(function (res) {
      if (res.status === 200 && res.valid) renderForm(res.body.metadata, null);
      else { reportInvalid(res); status(errorText(res), true); }
    });
  }

  function missingRequired() {
    return form.meta.fields.filter(function (f) {
      var v = form.values[f.id];
      return f.is_required && (v === undefined || v === null || v === "" ||
                               (Array.isArray(v) && !v.length));
    });
  }

  function submitForm() {
    var missing = missingRequired();
    if (missing.length) {
      formError("Fill in the required fields: " + missing.map(function (f) { return f.name || f.id; }).join(", "));
      return Promise.resolve();
    }
    if (form.rule) return submitRule();
    $("modal-submit").disabled = true;
    return callApp("form_submit", {url: form.meta.on_submit_callback, values: form.values})
      .then(function (res) {
        $("modal-submit").disabled = false;
        if (res.status === 200 && res.valid) {
          closeModal();
          status("Created " + res.body.resource_name, false, $("widgets"));
          return attachResource(res.body);
        }
        if (res.status === 400 && res.valid && res.body.metadata) { renderForm(res.body.metadata); return; }
        reportInvalid(res);
        formError(errorText(res));
      });
  }

  /* ---- rules (reference §5.4) ------------------------------------------------------- */

  function ruleName() {
    return $("rule-name").value.trim() || CFG.rule_action_name || "Rule";
  }

  function openRule(existing) {
    status("");
    var ready = existing ? Promise.resolve({action: existing.action, action_type: existing.action_type,
                                            project: existing.project, editing: true})
      : postJSON("/_sim/rules/new", {project: CFG.project}).then(function (draft) {
          return {action: draft.action, action_type: draft.action_type, project: draft.project,
                  editing: false};
        });
    return ready.then(function (rule) {
      // A new action's metadata GET omits `action`; on_change and on_submit carry it.
      var params = {task: null, project: rule.project, action_type: rule.action_type,
                    action: rule.editing ? rule.action : undefined};
      return callApp("rule_metadata", params).then(function (res) {
        if (res.status === 200 && res.valid) {
          rule.sent_action = true;
          $("rule-name").value = existing ? existing.rule_name : "";
          renderForm(res.body.metadata, rule);
        } else { reportInvalid(res); status(errorText(res), true); }
      });
    });
  }

  function submitRule() {
    var rule = form.rule, values = Object.assign({}, form.values), name = ruleName();
    $("modal-submit").disabled = true;
    return callApp("rule_submit", ruleParams({url: form.meta.on_submit_callback, values: values,
                                              rule_name: name, action: rule.action}))
      .then(function (res) {
        $("modal-submit").disabled = false;
        if (res.status === 200) {
          return postJSON("/_sim/rules", {action: rule.action, project: rule.project,
                                          user: CFG.user, values: values, rule_name: name})
            .then(function () {
              closeModal();
              status("Saved the rule " + name, false, $("rule-list"));
              return loadRules();
            });
        }
        if (res.status === 400 && res.valid && res.body.metadata) { renderForm(res.body.metadata); return; }
        reportInvalid(res);
        formError(errorText(res));
      });
  }

  function runRule(rule) {
    status("Running " + rule.rule_name + "…");
    var deliveries = $("deliver-twice") && $("deliver-twice").checked ? 2 : 1;
    return postJSON("/_sim/rules/" + rule.action + "/run",
                    {task: CFG.task, retry_backoff: 0.5, deliveries: deliveries})
      .then(function (run) {
        if (run.error) { status(run.error, true); return; }
        var last = run.deliveries[run.deliveries.length - 1];
        var body = last.body || {};
        if (last.status === 200 && body.action_result) {
          var made = (body.resources_created || []).map(function (r) { return r.resource_name; });
          status(rule.rule_name + " ran" + (made.length ? ": created " + made.join(", ") : "") +
                 (body.error ? " (" + body.error + ")" : "") + ".", !!body.error);
        } else {
          status(rule.rule_name + " failed after " + last.attempts + " attempts: " +
                 ((body && body.error) || "status " + last.status) + ".", true);
        }
        document.body.setAttribute("data-rule-run", String(last.status));
        return Promise.all([loadAttachments(), loadWidgets()]);
      });
  }

  function deleteRule(rule) {
    return postJSON("/_sim/rules/" + rule.action, undefined, "DELETE").then(function () {
      status("Deleted the rule " + rule.rule_name, false, $("rule-list"));
      return loadRules();
    });
  }

  function loadRules() {
    var ul = $("rule-list");
    if (!ul) return Promise.resolve();
    return fetch("/_sim/rules?project=" + encodeURIComponent(CFG.project || ""))
      .then(function (r) { return r.json(); })
      .then(function (body) {
        ul.textContent = "";
        body.rules.forEach(function (rule) {
          var run = el("button", {type: "button", className: "primary run-rule",
                                  "data-action": rule.action, text: "Run on this task"});
          var edit = el("button", {type: "button", className: "secondary edit-rule",
                                   "aria-label": "Edit " + rule.rule_name, text: "Edit"});
          var del = el("button", {type: "button", className: "secondary delete-rule",
                                  "aria-label": "Delete " + rule.rule_name, text: "Delete"});
          run.addEventListener("click", function () { runRule(rule); });
          edit.addEventListener("click", function () { openRule(rule); });
          del.addEventListener("click", function () { deleteRule(rule); });
          ul.appendChild(el("li", {className: "rule", "data-action": rule.action}, [
            el("span", {className: "rule-name-text", text: rule.rule_name}),
            el("span", {className: "muted small", text: "When run: " + (CFG.rule_action_name || "")}),
            el("span", {className: "rule-buttons"}, [run, edit, del])]));
        });
        ul.setAttribute("data-count", String(body.rules.length));
      });
  }

  /* ---- wiring ------------------------------------------------------------------------ */

  function on(id, event, fn) { var n = $(id); if (n) n.addEventListener(event, fn); }

  function toggleMenu(open) {
    var menu = $("app-menu"), button = $("app-menu-button");
    menu.hidden = !open;
    button.setAttribute("aria-expanded", open ? "true" : "false");
    if (open) menu.querySelector("button").focus();
  }

  on("app-menu-button", "click", function () { toggleMenu($("app-menu").hidden); });
  on("app-menu", "keydown", function (ev) {
    var items = Array.prototype.slice.call($("app-menu").querySelectorAll("button"));
    var i = items.indexOf(document.activeElement);
    if (ev.key === "ArrowDown") { ev.preventDefault(); items[(i + 1) % items.length].focus(); }
    if (ev.key === "ArrowUp") { ev.preventDefault(); items[(i + items.length - 1) % items.length].focus(); }
    if (ev.key === "Escape") { toggleMenu(false); $("app-menu-button").focus(); }
  });
  on("open-lookup", "click", function () { toggleMenu(false); openLookup(); });
  on("open-form", "click", function () { toggleMenu(false); openForm(); });
  on("connect", "click", openPopup);
  on("auth-connect", "click", openPopup);
  on("auth-cancel", "click", function () { settleAuth(false); status(APP + " was not connected.", true); });
  on("refresh-widgets", "click", function () { loadWidgets(); });
  on("complete", "click", function () {
    var done = $("complete").getAttribute("aria-pressed") !== "true";
    $("complete").setAttribute("aria-pressed", done ? "true" : "false");
    $("complete").classList.toggle("done", done);
  });
  on("lookup-input", "input", function () {
    var q = $("lookup-input").value;
    if (q.trim()) lookupSearch(q); else $("lookup-results").hidden = true;
  });
  on("lookup-input", "keydown", function (ev) {
    if (ev.key === "Enter" && $("lookup-input").value.trim()) lookupAttach($("lookup-input").value.trim());
    if (ev.key === "Escape") { $("lookup").hidden = true; $("app-menu-button").focus(); }
  });
  if ($("lookup-input")) typeaheadKeys($("lookup-input"), $("lookup-results"));
  on("modal-close", "click", closeModal);
  on("modal-cancel", "click", closeModal);
  on("modal-submit", "click", submitForm);
  on("modal", "keydown", function (ev) {
    if (ev.key === "Escape") { ev.preventDefault(); closeModal(); return; }
    if (ev.key !== "Tab") return;
    // Keep Tab inside the dialog.
    var focusable = Array.prototype.slice.call($("modal").querySelectorAll(
      "button:not([disabled]), input, select, textarea, [contenteditable=true], a[href]"))
      .filter(function (n) { return n.offsetParent !== null; });
    if (!focusable.length) return;
    var first = focusable[0], last = focusable[focusable.length - 1];
    if (ev.shiftKey && document.activeElement === first) { ev.preventDefault(); last.focus(); }
    else if (!ev.shiftKey && document.activeElement === last) { ev.preventDefault(); first.focus(); }
  });
  on("upload-form", "submit", upload);
  on("add-rule", "click", function () { openRule(null); });
  // Asana asks for widget metadata each time the task is viewed (reference §2.1).
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible") loadWidgets();
  });

  loadAttachments();
  loadRules();
  loadWidgets();
})();
