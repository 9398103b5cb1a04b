//! Turning core events into JavaScript values (on Node's thread, inside the threadsafe function's
//! callback). Raw N-API calls, each checked: a failed call becomes an error, never a panic.

use std::ffi::c_void;
use std::ptr;

use napi::bindgen_prelude::ToNapiValue;
use napi::{check_status, sys, Result};

use crate::consumer::{Delivery, ErrorInfo, Event};
use crate::message::{Body, Message, Value, HEADER_FIELDS, PROPERTY_FIELDS};

/// A builder of JS values for one environment.
#[derive(Clone, Copy)]
pub struct Js(pub sys::napi_env);

impl Js {
    pub fn object(self) -> Result<sys::napi_value> {
        let mut out = ptr::null_mut();
        check_status!(unsafe { sys::napi_create_object(self.0, &mut out) })?;
        Ok(out)
    }

    pub fn array(self, len: usize) -> Result<sys::napi_value> {
        let mut out = ptr::null_mut();
        check_status!(unsafe { sys::napi_create_array_with_length(self.0, len, &mut out) })?;
        Ok(out)
    }

    pub fn string(self, s: &str) -> Result<sys::napi_value> {
        let mut out = ptr::null_mut();
        check_status!(unsafe {
            sys::napi_create_string_utf8(self.0, s.as_ptr().cast(), s.len() as isize, &mut out)
        })?;
        Ok(out)
    }

    pub fn number(self, n: f64) -> Result<sys::napi_value> {
        let mut out = ptr::null_mut();
        check_status!(unsafe { sys::napi_create_double(self.0, n, &mut out) })?;
        Ok(out)
    }

    pub fn boolean(self, b: bool) -> Result<sys::napi_value> {
        let mut out = ptr::null_mut();
        check_status!(unsafe { sys::napi_get_boolean(self.0, b, &mut out) })?;
        Ok(out)
    }

    pub fn null(self) -> Result<sys::napi_value> {
        let mut out = ptr::null_mut();
        check_status!(unsafe { sys::napi_get_null(self.0, &mut out) })?;
        Ok(out)
    }

    pub fn undefined(self) -> Result<sys::napi_value> {
        let mut out = ptr::null_mut();
        check_status!(unsafe { sys::napi_get_undefined(self.0, &mut out) })?;
        Ok(out)
    }

    pub fn date(self, ms: f64) -> Result<sys::napi_value> {
        let mut out = ptr::null_mut();
        check_status!(unsafe { sys::napi_create_date(self.0, ms, &mut out) })?;
        Ok(out)
    }

    pub fn buffer(self, data: &[u8]) -> Result<sys::napi_value> {
        let mut out = ptr::null_mut();
        let mut copy: *mut c_void = ptr::null_mut();
        check_status!(unsafe {
            sys::napi_create_buffer_copy(
                self.0,
                data.len(),
                data.as_ptr().cast(),
                &mut copy,
                &mut out,
            )
        })?;
        Ok(out)
    }

    /// `obj[key] = value`, with JavaScript's own key conversion (as rhea's `mapify`).
    pub fn set(
        self,
        obj: sys::napi_value,
        key: sys::napi_value,
        value: sys::napi_value,
    ) -> Result<()> {
        check_status!(unsafe { sys::napi_set_property(self.0, obj, key, value) })
    }

    pub fn set_named(self, obj: sys::napi_value, key: &str, value: sys::napi_value) -> Result<()> {
        let key = self.string(key)?;
        self.set(obj, key, value)
    }

    pub fn set_element(self, arr: sys::napi_value, i: u32, value: sys::napi_value) -> Result<()> {
        check_status!(unsafe { sys::napi_set_element(self.0, arr, i, value) })
    }

    pub fn value(self, v: &Value) -> Result<sys::napi_value> {
        match v {
            Value::Null => self.null(),
            Value::Bool(b) => self.boolean(*b),
            Value::Number(n) => self.number(*n),
            Value::Timestamp(ms) => self.date(*ms),
            Value::Binary(b) => self.buffer(b),
            Value::String(s) => self.string(s),
            Value::List(items) => self.list(items),
            Value::Map(pairs) => self.map(pairs),
            Value::Described(d, v) => {
                let obj = self.object()?;
                self.set_named(obj, "descriptor", self.value(d)?)?;
                self.set_named(obj, "value", self.value(v)?)?;
                Ok(obj)
            }
        }
    }

    fn list(self, items: &[Value]) -> Result<sys::napi_value> {
        let arr = self.array(items.len())?;
        for (i, item) in items.iter().enumerate() {
            self.set_element(arr, i as u32, self.value(item)?)?;
        }
        Ok(arr)
    }

    fn map(self, pairs: &[(Value, Value)]) -> Result<sys::napi_value> {
        let obj = self.object()?;
        for (k, v) in pairs {
            self.set(obj, self.value(k)?, self.value(v)?)?;
        }
        Ok(obj)
    }

    /// Copies the non-null fields of a composite section onto the message, flat, as rhea does.
    fn fields(self, msg: sys::napi_value, names: &[&str], values: &[Value]) -> Result<()> {
        for (name, value) in names.iter().zip(values) {
            if *value != Value::Null {
                self.set_named(msg, name, self.value(value)?)?;
            }
        }
        Ok(())
    }

    /// The message in rhea's shape. The JS layer gives it and its body their prototypes.
    pub fn message(self, m: &Message) -> Result<sys::napi_value> {
        let msg = self.object()?;
        if let Some(h) = &m.header {
            self.fields(msg, &HEADER_FIELDS, h)?;
        }
        if let Some(p) = &m.delivery_annotations {
            self.set_named(msg, "delivery_annotations", self.map(p)?)?;
        }
        if let Some(p) = &m.message_annotations {
            self.set_named(msg, "message_annotations", self.map(p)?)?;
        }
        if let Some(p) = &m.properties {
            self.fields(msg, &PROPERTY_FIELDS, p)?;
        }
        if let Some(p) = &m.application_properties {
            self.set_named(msg, "application_properties", self.map(p)?)?;
        }
        match &m.body {
            Body::None => {}
            Body::Data(parts) => {
                let content = if parts.len() == 1 {
                    self.buffer(&parts[0])?
                } else {
                    let arr = self.array(parts.len())?;
                    for (i, p) in parts.iter().enumerate() {
                        self.set_element(arr, i as u32, self.buffer(p)?)?;
                    }
                    arr
                };
                self.set_named(msg, "body", self.section(0x75, content, parts.len() > 1)?)?;
            }
            Body::Sequence(parts) => {
                let content = if parts.len() == 1 {
                    self.list(&parts[0])?
                } else {
                    let arr = self.array(parts.len())?;
                    for (i, p) in parts.iter().enumerate() {
                        self.set_element(arr, i as u32, self.list(p)?)?;
                    }
                    arr
                };
                self.set_named(msg, "body", self.section(0x76, content, parts.len() > 1)?)?;
            }
            Body::Value(v) => self.set_named(msg, "body", self.value(v)?)?,
        }
        if let Some(p) = &m.footer {
            self.set_named(msg, "footer", self.map(p)?)?;
        }
        Ok(msg)
    }

    fn section(
        self,
        typecode: u32,
        content: sys::napi_value,
        multiple: bool,
    ) -> Result<sys::napi_value> {
        let s = self.object()?;
        self.set_named(s, "typecode", self.number(typecode as f64)?)?;
        self.set_named(s, "content", content)?;
        let multiple = if multiple {
            self.boolean(true)?
        } else {
            self.undefined()?
        };
        self.set_named(s, "multiple", multiple)?;
        Ok(s)
    }

    fn delivery(self, d: &Delivery) -> Result<sys::napi_value> {
        let obj = self.object()?;
        self.set_named(obj, "id", self.number(d.id as f64)?)?;
        self.set_named(obj, "tag", self.buffer(&d.tag)?)?;
        self.set_named(obj, "format", self.number(d.format as f64)?)?;
        self.set_named(obj, "settled", self.boolean(d.settled)?)?;
        let section = matches!(d.message.body, Body::Data(_) | Body::Sequence(_));
        self.set_named(obj, "section", self.boolean(section)?)?;
        self.set_named(obj, "message", self.message(&d.message)?)?;
        Ok(obj)
    }

    fn error(self, e: &ErrorInfo) -> Result<sys::napi_value> {
        let obj = self.object()?;
        self.set_named(obj, "condition", self.string(&e.condition)?)?;
        self.set_named(obj, "description", self.string(&e.description)?)?;
        Ok(obj)
    }

    fn opt_error(self, e: &Option<ErrorInfo>) -> Result<sys::napi_value> {
        match e {
            Some(e) => self.error(e),
            None => self.undefined(),
        }
    }

    fn opt_string(self, s: &Option<String>) -> Result<sys::napi_value> {
        match s {
            Some(s) => self.string(s),
            None => self.null(),
        }
    }

    /// `{type, epoch, ...}` for one core event.
    pub fn event(self, ev: &Event) -> Result<sys::napi_value> {
        let obj = self.object()?;
        let (kind, epoch) = match ev {
            Event::ConnectionOpen { epoch, remote } => {
                let r = self.object()?;
                self.set_named(r, "container_id", self.string(&remote.container_id)?)?;
                self.set_named(r, "hostname", self.opt_string(&remote.hostname)?)?;
                let idle = match remote.idle_time_out {
                    Some(ms) => self.number(ms as f64)?,
                    None => self.null()?,
                };
                self.set_named(r, "idle_time_out", idle)?;
                self.set_named(
                    r,
                    "max_frame_size",
                    self.number(remote.max_frame_size as f64)?,
                )?;
                self.set_named(obj, "remote", r)?;
                ("connection_open", *epoch)
            }
            Event::ReceiverOpen {
                epoch,
                remote_source,
            } => {
                self.set_named(obj, "remote_source", self.opt_string(remote_source)?)?;
                ("receiver_open", *epoch)
            }
            Event::Messages { epoch, deliveries } => {
                let arr = self.array(deliveries.len())?;
                for (i, d) in deliveries.iter().enumerate() {
                    self.set_element(arr, i as u32, self.delivery(d)?)?;
                }
                self.set_named(obj, "deliveries", arr)?;
                ("messages", *epoch)
            }
            Event::ReceiverClose { epoch, error } => {
                self.set_named(obj, "error", self.opt_error(error)?)?;
                ("receiver_close", *epoch)
            }
            Event::ConnectionError { epoch, error } => {
                self.set_named(obj, "error", self.error(error)?)?;
                ("connection_error", *epoch)
            }
            Event::ConnectionClose { epoch } => ("connection_close", *epoch),
            Event::Disconnected {
                epoch,
                error,
                reconnecting,
                delay,
            } => {
                self.set_named(obj, "error", self.opt_error(error)?)?;
                self.set_named(obj, "reconnecting", self.boolean(*reconnecting)?)?;
                self.set_named(obj, "delay", self.number(delay.as_millis() as f64)?)?;
                ("disconnected", *epoch)
            }
            Event::CredentialsNeeded { epoch } => ("credentials_needed", *epoch),
            Event::Closed => ("closed", 0),
        };
        self.set_named(obj, "type", self.string(kind)?)?;
        self.set_named(obj, "epoch", self.number(epoch as f64)?)?;
        Ok(obj)
    }
}

/// An event on its way to JavaScript.
pub struct JsEvent(pub Event);

impl ToNapiValue for JsEvent {
    unsafe fn to_napi_value(env: sys::napi_env, val: Self) -> Result<sys::napi_value> {
        Js(env).event(&val.0)
    }
}
