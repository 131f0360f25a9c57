#pragma once

// Private: strict XML reading on top of pugixml, with the namespace resolution pugixml lacks.

#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>

#include <pugixml.hpp>

namespace portability::detail {

/// Parses a whole XML document strictly: valid UTF-8 (BOM accepted), well-formed, and no
/// entity references other than XML 1.0 §4.6's predefined ones and character references
/// (pugixml would keep an unknown "&name;" as text; we refuse it). A DOCTYPE internal subset
/// is skipped, never fetched. Throws FormatError(what, ...).
std::unique_ptr<pugi::xml_document> parse_xml(std::string_view text, const std::string& what);

/// The namespace URI `prefix` ("" for the default namespace) is bound to at `node`
/// (Namespaces in XML §6: the nearest declaration); empty when unbound. It points into the
/// document: no copy, as this is asked of every element a reader looks at.
std::string_view bound_uri(pugi::xml_node node, std::string_view prefix);
/// The namespace URI of an element's name, as bound_uri.
std::string_view element_uri(pugi::xml_node element);
std::string_view local_name(pugi::xml_node node);
bool is_element(pugi::xml_node node, std::string_view ns, std::string_view local);
pugi::xml_node first_child(pugi::xml_node node, std::string_view ns, std::string_view local);
/// Whether an element holds anything a not_read list should name: a child element, text
/// (parse_xml keeps no white-space-only text), or an attribute with a value other than a
/// namespace declaration or one of `markup`, attributes that only say how to read the content
/// (Atom's text-construct `type`). `<title type="text"/>` holds nothing.
bool has_content(pugi::xml_node element, std::initializer_list<std::string_view> markup = {});
/// The text content of an element (concatenated PCDATA/CDATA children).
std::string text_of(pugi::xml_node node);
/// The element serialized alone, with every namespace declaration in scope at it copied onto
/// it, so the fragment parses by itself.
std::string serialize_standalone(pugi::xml_node node);
/// Removes from every attribute value and text under `node` (itself included) the control
/// characters XML 1.0 cannot hold (is_forbidden_control): pugixml would write them as character
/// references no conforming parser accepts. True if it removed any, for a writer to report.
bool drop_forbidden_controls(pugi::xml_node node);
/// Serialized children (inner XML) of an element.
std::string inner_xml(pugi::xml_node node);

}  // namespace portability::detail
