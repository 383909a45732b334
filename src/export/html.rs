//! `report.html`: `report.md` as one self-contained page. The markdown is
//! rendered with pulldown-cmark; each plot the markdown links to is inlined
//! as its SVG (hover a point for its value: the plots carry `<title>`s); a
//! click on a table's heading sorts it by that column, numbers as numbers.
//! The page needs no network and no other file: styles and the script are
//! inline. On load the script writes what it found into `data-plots` and
//! `data-tables` on `<html>`, and any script error into `data-errors`, for
//! the browser test. Opened as `report.html#selftest`, it also sorts each
//! table with more than one row by its first all-numeric column and writes
//! into `data-sorted` how many rows came out of order.

use pulldown_cmark::{html, CowStr, Event, Options, Parser, Tag, TagEnd};

/// The page's styles: readable widths, tables with lines, sortable headings.
const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;\
line-height:1.45;color:#111}table{border-collapse:collapse;margin:1em 0;font-size:14px}\
th,td{border:1px solid #bbb;padding:3px 8px;vertical-align:top}th{background:#f2f2f2;cursor:pointer;\
user-select:none}th[data-order=asc]::after{content:' \\25B2'}th[data-order=desc]::after{content:' \\25BC'}\
figure{margin:1em 0;overflow-x:auto}figure svg{max-width:100%;height:auto}code{background:#f4f4f4;\
padding:0 3px}pre{background:#f4f4f4;padding:8px;overflow-x:auto}";

/// Sorts a table by the clicked heading's column (numbers by value, the rest
/// as text; again to reverse), and records what the page holds.
const SCRIPT: &str = r#"(function(){
var root=document.documentElement;
window.addEventListener('error',function(e){root.dataset.errors=(root.dataset.errors||'')+e.message+';';});
function key(cell){var t=cell.textContent.trim().replace(/\*/g,'');var m=t.match(/^[-+]?[0-9][0-9,]*(\.[0-9]+)?/);
return m?{n:parseFloat(m[0].replace(/,/g,'')),t:t}:{n:null,t:t};}
function sort(th){var table=th.closest('table');var body=table.tBodies[0];if(!body)return;
var col=Array.prototype.indexOf.call(th.parentNode.children,th);var asc=th.dataset.order!=='asc';
Array.prototype.forEach.call(th.parentNode.children,function(h){delete h.dataset.order;});
th.dataset.order=asc?'asc':'desc';var rows=Array.prototype.slice.call(body.rows);
rows.sort(function(a,b){var x=key(a.cells[col]||a),y=key(b.cells[col]||b);var c;
if(x.n!==null&&y.n!==null){c=x.n-y.n;}else{c=x.t.localeCompare(y.t);}return asc?c:-c;});
rows.forEach(function(r){body.appendChild(r);});}
document.querySelectorAll('table th').forEach(function(th){th.addEventListener('click',function(){sort(th);});});
if(location.hash==='#selftest'){var bad=0,tried=0;document.querySelectorAll('table').forEach(function(t){
if(!t.tBodies[0]||t.tBodies[0].rows.length<2)return;var heads=t.querySelectorAll('th');
for(var c=0;c<heads.length;c++){var cells=Array.prototype.map.call(t.tBodies[0].rows,function(r){return key(r.cells[c]||r).n;});
if(cells.some(function(v){return v===null;}))continue;heads[c].click();tried++;
var after=Array.prototype.map.call(t.tBodies[0].rows,function(r){return key(r.cells[c]).n;});
for(var i=1;i<after.length;i++){if(after[i-1]>after[i])bad++;}break;}});
root.dataset.sorted=tried+' tables, '+bad+' out of order';}
root.dataset.plots=document.querySelectorAll('figure svg').length;
root.dataset.tables=document.querySelectorAll('table').length;
root.dataset.ready='yes';
})();"#;

/// The page of `markdown` titled `title`; `svg_of` gives the SVG text of a
/// plot the markdown links to (`plots/cdf-p0.svg`), or `None` to leave the link.
pub fn report_html(title: &str, markdown: &str, svg_of: &dyn Fn(&str) -> Option<String>) -> String {
    let parser = Parser::new_ext(markdown, Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH);
    let mut events: Vec<Event> = Vec::new();
    let mut skipping = false;
    for event in parser {
        match event {
            Event::Start(Tag::Image { ref dest_url, .. }) if dest_url.ends_with(".svg") => {
                match svg_of(dest_url).map(|svg| inline(&svg)) {
                    Some(figure) => {
                        events.push(Event::Html(CowStr::from(figure)));
                        skipping = true;
                    }
                    None => events.push(event),
                }
            }
            Event::End(TagEnd::Image) if skipping => skipping = false,
            _ if skipping => {}
            other => events.push(other),
        }
    }
    let mut body = String::new();
    html::push_html(&mut body, events.into_iter());
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>{}</title>\n\
         <style>{STYLE}</style>\n</head>\n<body>\n{body}<script>{SCRIPT}</script>\n</body>\n</html>\n",
        escape(title)
    )
}

/// An SVG file's text as a figure of the page: its XML declaration dropped.
fn inline(svg: &str) -> String {
    let start = svg.find("<svg").unwrap_or(0);
    format!("<figure>{}</figure>", svg[start..].trim_end())
}

/// `text` safe inside an HTML or SVG element or a quoted attribute.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plots_are_inlined_and_tables_kept() {
        let md = "# R\n\n| a | b |\n|---|--:|\n| x | 2 |\n\n![latency](plots/a.svg)\n\n![missing](plots/b.svg)\n";
        let page = report_html("R <1>", md, &|p| {
            (p == "plots/a.svg").then(|| "<?xml version=\"1.0\"?>\n<svg width=\"10\"><title>t</title></svg>\n".into())
        });
        assert!(page.contains("<figure><svg width=\"10\"><title>t</title></svg></figure>"), "{page}");
        assert!(!page.contains("<?xml"));
        assert!(page.contains("<img src=\"plots/b.svg\" alt=\"missing\""), "{page}");
        assert!(page.contains("<table>") && page.contains("<th>a</th>"));
        assert!(page.contains("<title>R &lt;1&gt;</title>"));
        assert!(!page.contains("http://") && !page.contains("https://"), "the page needs no network");
    }
}
