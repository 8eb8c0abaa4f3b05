/* Asana simulator demo task page.
 *
 * Renders App Components the way Asana's web client does: every request goes from this
 * browser straight to the app server (so CORS is real); the simulator backend only supplies
 * the signature (/_sim/app-components/sign) and checks the response against the spec
 * (/_sim/app-components/validate). A response Asana could not use shows Asana's
 * "Something went wrong. Try again later." (reference §10.1).
 */
(function () {
  "use strict";

  var CFG = JSON.parse(document.getElementById("sim-config").textContent);
  var SOMETHING_WRONG = "Something went wrong. Try again later.";
  var RICH_TAGS = ["B", "STRONG", "I", "EM", "U", "S", "CODE", "A", "UL", "OL", "LI", "P", "BR",
    "BLOCKQUOTE", "PRE", "H1", "H2", "HR"];

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

  function status(text, bad) {
    var s = $("status");
    s.textContent = text || "";
    s.className = bad ? "status bad" : "status";
  }

  function postJSON(url, body) {
    return fetch(url, {
      method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body)
    }).then(function (r) { return r.json(); });
  }

  /* One App Components call: sign on the simulator, send from the browser, validate. */
  function callApp(kind, params) {
    var payload = Object.assign({kind: kind, task: CFG.task, user: CFG.user,
                                 workspace: CFG.workspace}, params || {});
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

  function reportInvalid(result) {
    if (result.problem && result.problem.path !== undefined) {
      console.warn("App Components response rejected:", result.problem.path, result.problem.message);
    }
  }

  /* ---- dates ---------------------------------------------------------------------- */

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

  /* ---- widget (summary_with_details_v0) ----------------------------------------------- */

  function renderWidget(meta, resourceUrl, attachmentGid) {
    var head = el("div", {className: "widget-head"}, [
      el("span", {className: "app-icon", text: "J"}),
      el("div", {}, [
        el("a", {className: "widget-title", href: resourceUrl, target: "_blank", rel: "noopener",
                 text: meta.title}),
        el("div", {className: "widget-subtitle"}, [
          icon(meta.subicon_url),
          el("span", {text: (meta.subtitle || CFG.app_name || "") + " · Open in " + (CFG.app_name || "app")})
        ])
      ])
    ]);
    var fields = el("div", {className: "widget-fields"});
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
      fields.appendChild(el("div", {className: "widget-field-name", text: f.name}));
      fields.appendChild(el("div", {className: "widget-field-value widget-field type-" + f.type}, [value]));
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
    return el("article", {className: "widget", "data-attachment": attachmentGid},
              [head, fields, footer]);
  }

  function loadWidgets() {
    var box = $("widgets");
    return fetch("/demo/task/" + CFG.task + "/widgets").then(function (r) { return r.json(); })
      .then(function (list) {
        box.textContent = "";
        return Promise.all(list.map(function (att) {
          var slot = el("div", {className: "widget-slot"});
          box.appendChild(slot);
          return callApp("widget", {attachment: att.gid}).then(function (res) {
            if (res.status === 200 && res.valid) {
              slot.appendChild(renderWidget(res.body.metadata, att.url, att.gid));
            } else {
              reportInvalid(res);
              var msg = (res.status === 401 || res.status === 403 || res.status === 418)
                ? "Connect " + (CFG.app_name || "the app") + " to see this issue." : SOMETHING_WRONG;
              slot.appendChild(el("article", {className: "widget error", "data-attachment": att.gid,
                                              text: msg}));
            }
          });
        }));
      }).then(function () { box.setAttribute("data-loaded", "true"); });
  }

  function attachResource(resource) {
    return postJSON("/_sim/tasks/" + CFG.task + "/attach-resource",
                    {resource_name: resource.resource_name, resource_url: resource.resource_url})
      .then(function (att) {
        var li = el("li", {className: "attachment external"}, [
          el("span", {className: "file-icon link", text: "\u2197"}),
          el("a", {href: att.url, target: "_blank", rel: "noopener", text: att.name})]);
        $("attachment-list").appendChild(li);
        return loadWidgets();
      });
  }

  /* ---- typeahead list (lookup and form fields) ------------------------------------- */

  function renderTypeahead(container, body, onPick) {
    container.textContent = "";
    if (body.header) container.appendChild(el("div", {className: "typeahead-header", text: body.header}));
    if (!body.items.length) container.appendChild(el("div", {className: "typeahead-empty", text: "No results"}));
    body.items.forEach(function (item) {
      var row = el("div", {className: "typeahead-item", role: "option", "data-value": item.value}, [
        icon(item.icon_url),
        el("div", {}, [el("div", {className: "typeahead-title", text: item.title}),
                       item.subtitle ? el("div", {className: "typeahead-sub", text: item.subtitle}) : null])
      ]);
      row.addEventListener("mousedown", function (ev) { ev.preventDefault(); onPick(item); });
      container.appendChild(row);
    });
    container.hidden = false;
  }

  function debounce(fn, ms) {
    var t;
    return function () {
      var args = arguments;
      clearTimeout(t);
      t = setTimeout(function () { fn.apply(null, args); }, ms);
    };
  }

  /* ---- lookup ---------------------------------------------------------------------- */

  function openLookup() {
    $("lookup").hidden = false;
    $("lookup-input").focus();
  }

  function lookupAttach(query) {
    var err = $("lookup-error");
    err.hidden = true;
    return callApp("lookup_attach", {query: query}).then(function (res) {
      if (res.status === 200 && res.valid && !res.body.error) {
        $("lookup").hidden = true;
        $("lookup-input").value = "";
        $("lookup-results").hidden = true;
        status("Linked " + res.body.resource_name);
        return attachResource(res.body);
      }
      reportInvalid(res);
      err.textContent = (res.body && res.body.error) || SOMETHING_WRONG;
      err.hidden = false;
    });
  }

  var lookupSearch = debounce(function (query) {
    callApp("lookup_typeahead", {query: query}).then(function (res) {
      if (res.status === 200 && res.valid) {
        renderTypeahead($("lookup-results"), res.body, function (item) { lookupAttach(item.value); });
      } else {
        reportInvalid(res);
        $("lookup-results").hidden = true;
        $("lookup-error").textContent = SOMETHING_WRONG;
        $("lookup-error").hidden = false;
      }
    });
  }, 200);

  /* ---- modal form (form_metadata_v0) ------------------------------------------------ */

  var form = null;  // {meta, values}

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

  function fieldValue(f) {
    var v = form.values[f.id];
    return v === undefined ? null : v;
  }

  function setValue(f, v) {
    form.values[f.id] = v;
    if (f.is_watched && form.meta.on_change_callback) onWatchedChange(f.id);
  }

  function renderField(f) {
    var wrap = el("div", {className: "form-field " + f.type + (f.width === "half" ? " half" : "") +
                          (f.error ? " has-error" : ""), "data-field": f.id});
    if (f.type === "static_text") {
      wrap.appendChild(el("div", {className: "static-text " + (f.style || "default"), text: f.name}));
      return wrap;
    }
    var inputId = "field-" + f.id;
    var label = el("label", {"for": inputId, text: f.name || ""});
    if (f.is_required) label.appendChild(el("span", {className: "required", text: " *"}));
    wrap.appendChild(label);
    var v = fieldValue(f), input;
    if (f.type === "single_line_text" || f.type === "multi_line_text") {
      input = el(f.type === "single_line_text" ? "input" : "textarea",
                 {id: inputId, type: f.type === "single_line_text" ? "text" : null,
                  placeholder: f.placeholder, maxlength: f.type === "single_line_text" ? 200 : 3000});
      input.value = v || "";
      input.addEventListener("change", function () { setValue(f, input.value); });
      input.addEventListener("input", function () { form.values[f.id] = input.value; });
    } else if (f.type === "rich_text") {
      input = el("div", {id: inputId, className: "rich-text", contenteditable: "true",
                         role: "textbox", "aria-multiline": "true", "data-placeholder": f.placeholder});
      input.innerHTML = sanitize((v || "").replace(/<\/?body>/gi, ""));
      input.addEventListener("input", function () {
        form.values[f.id] = "<body>" + input.innerHTML + "</body>";
      });
      input.addEventListener("blur", function () { if (f.is_watched) setValue(f, form.values[f.id]); });
    } else if (f.type === "dropdown") {
      input = el("select", {id: inputId}, [el("option", {value: "", text: "Select…"})]);
      f.options.forEach(function (o) {
        input.appendChild(el("option", {value: o.id, text: o.label, selected: o.id === v ? "selected" : null}));
      });
      input.addEventListener("change", function () { setValue(f, input.value || null); });
    } else if (f.type === "radio_button" || f.type === "checkbox") {
      input = el("div", {id: inputId, role: "group"});
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
    } else if (f.type === "date") {
      input = el("input", {id: inputId, type: "date"});
      input.value = v ? String(v).slice(0, 10) : "";
      input.addEventListener("change", function () {
        // Asana sends the local midnight as an ISO 8601 UTC string (reference §3.2 example).
        var p = input.value.split("-");
        setValue(f, input.value ? new Date(+p[0], +p[1] - 1, +p[2]).toISOString() : null);
      });
    } else if (f.type === "datetime") {
      input = el("input", {id: inputId, type: "datetime-local"});
      if (v) {
        var d = new Date(v);
        input.value = new Date(d.getTime() - d.getTimezoneOffset() * 60000).toISOString().slice(0, 16);
      }
      input.addEventListener("change", function () {
        setValue(f, input.value ? new Date(input.value).toISOString() : null);
      });
    } else if (f.type === "typeahead") {
      input = el("div", {className: "lookup-box"});
      var text = el("input", {id: inputId, type: "text", autocomplete: "off",
                              placeholder: f.placeholder || "Search"});
      var results = el("div", {className: "typeahead", hidden: "hidden"});
      var chosen = el("div", {className: "chosen", hidden: v ? null : "hidden"});
      if (v) chosen.appendChild(el("span", {text: v.title}));
      var search = debounce(function (q) {
        callApp("typeahead", {url: f.typeahead_url, query: q}).then(function (res) {
          if (res.status === 200 && res.valid) {
            renderTypeahead(results, res.body, function (item) {
              results.hidden = true;
              text.value = "";
              chosen.textContent = "";
              chosen.appendChild(el("span", {text: item.title}));
              chosen.hidden = false;
              setValue(f, item);
            });
          } else { reportInvalid(res); results.hidden = true; }
        });
      }, 200);
      text.addEventListener("input", function () { search(text.value); });
      text.addEventListener("blur", function () { setTimeout(function () { results.hidden = true; }, 150); });
      input.appendChild(text);
      input.appendChild(results);
      input.appendChild(chosen);
    }
    wrap.appendChild(input);
    if (f.error) wrap.appendChild(el("p", {className: "field-error", text: f.error}));
    return wrap;
  }

  function renderForm(meta) {
    var values = {};
    meta.fields.forEach(function (f) {
      if (f.type !== "static_text" && f.value !== undefined && f.value !== null) values[f.id] = f.value;
    });
    form = {meta: meta, values: values};
    $("modal-title").textContent = meta.title;
    var box = $("modal-form");
    box.textContent = "";
    meta.fields.forEach(function (f) { box.appendChild(renderField(f)); });
    $("modal-submit").disabled = !meta.on_submit_callback;
    $("modal-error").hidden = true;
    $("modal").hidden = false;
  }

  function formError(text) {
    $("modal-error").textContent = text;
    $("modal-error").hidden = false;
  }

  function onWatchedChange(fieldId) {
    var values = Object.assign({}, form.values);
    callApp("form_change", {url: form.meta.on_change_callback, values: values,
                            changed_field: fieldId}).then(function (res) {
      if ((res.status === 200 || res.status === 400) && res.valid) renderForm(res.body.metadata);
      else { reportInvalid(res); formError(SOMETHING_WRONG); }
    });
  }

  function openForm() {
    status("");
    callApp("form_metadata").then(function (res) {
      if (res.status === 200 && res.valid) renderForm(res.body.metadata);
      else { reportInvalid(res); status(SOMETHING_WRONG, true); }
    });
  }

  function submitForm() {
    var missing = form.meta.fields.filter(function (f) {
      var v = form.values[f.id];
      return f.is_required && (v === undefined || v === null || v === "" ||
                               (Array.isArray(v) && !v.length));
    });
    if (missing.length) {
      formError("Fill in the required fields: " + missing.map(function (f) { return f.name || f.id; }).join(", "));
      return Promise.resolve();
    }
    $("modal-submit").disabled = true;
    return callApp("form_submit", {url: form.meta.on_submit_callback, values: form.values})
      .then(function (res) {
        $("modal-submit").disabled = false;
        if (res.status === 200 && res.valid) {
          $("modal").hidden = true;
          status("Created " + res.body.resource_name);
          return attachResource(res.body);
        }
        if (res.status === 400 && res.valid) { renderForm(res.body.metadata); return; }
        reportInvalid(res);
        formError((res.body && res.body.error) || SOMETHING_WRONG);
      });
  }

  /* ---- auth popup (reference §7.1) ---------------------------------------------------- */

  function connect() {
    if (!CFG.auth_url) return;
    window.open(CFG.auth_url, "asana_app_auth", "width=620,height=720");
    status("Waiting for " + CFG.app_name + " to finish authorization…");
  }

  window.addEventListener("message", function (ev) {
    // Asana accepts the message only from the origin of the registered Authentication URL.
    if (ev.origin !== CFG.bridge_origin) return;
    if (ev.data === "success") {
      status(CFG.app_name + " is connected.");
      document.body.setAttribute("data-auth", "success");
      loadWidgets();
    } else if (ev.data === "error") {
      status(CFG.app_name + " was not connected.", true);
      document.body.setAttribute("data-auth", "error");
    }
  });

  /* ---- wiring ------------------------------------------------------------------------ */

  function on(id, event, fn) { var n = $(id); if (n) n.addEventListener(event, fn); }

  on("app-menu-button", "click", function () { $("app-menu").hidden = !$("app-menu").hidden; });
  on("open-lookup", "click", function () { $("app-menu").hidden = true; openLookup(); });
  on("open-form", "click", function () { $("app-menu").hidden = true; openForm(); });
  on("connect", "click", connect);
  on("lookup-input", "input", function () {
    var q = $("lookup-input").value;
    if (q.trim()) lookupSearch(q); else $("lookup-results").hidden = true;
  });
  on("lookup-input", "keydown", function (ev) {
    if (ev.key === "Enter" && $("lookup-input").value.trim()) lookupAttach($("lookup-input").value.trim());
    if (ev.key === "Escape") $("lookup").hidden = true;
  });
  on("modal-close", "click", function () { $("modal").hidden = true; });
  on("modal-cancel", "click", function () { $("modal").hidden = true; });
  on("modal-submit", "click", submitForm);

  if (CFG.bridge_origin) loadWidgets();
  else $("widgets").setAttribute("data-loaded", "true");
})();
