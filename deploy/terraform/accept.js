// CloudFront Function (viewer request, cloudfront-js-2.0): folds the browser's Accept header into
// the four values that decide imgorigin's output format, before CloudFront computes the cache
// key, so the cache holds one variant per outcome instead of one per browser build.
// imgorigin (transforms/format.cc, AcceptsMimeType) offers AVIF, then WebP, when Accept names
// that exact type (case-insensitively) with q > 0; GIF sources skip AVIF, so both facts are kept:
//   "image/avif,image/webp" | "image/avif" | "image/webp" | no Accept header (the source format)
// q of one media range's parameters: the first q=, 1 when absent, 0 when malformed.
function qValue(params) {
  for (var j = 0; j < params.length; j++) {
    var param = params[j].trim();
    if (param.length < 2 || (param[0] !== 'q' && param[0] !== 'Q') || param[1] !== '=') continue;
    var text = param.substring(2);
    var q = /^[0-9.eE+-]+$/.test(text) ? Number(text) : NaN;
    return q >= 0 && q <= 1 ? q : 0;
  }
  return 1;
}

function acceptsType(accept, mime) {
  var ranges = accept.split(',');
  for (var i = 0; i < ranges.length; i++) {
    var parts = ranges[i].split(';');
    if (parts[0].trim().toLowerCase() === mime && qValue(parts.slice(1)) > 0) return true;
  }
  return false;
}

function handler(event) {
  var request = event.request;
  var header = request.headers['accept'];
  var accept = header ? header.value : '';
  var formats = [];
  if (acceptsType(accept, 'image/avif')) formats.push('image/avif');
  if (acceptsType(accept, 'image/webp')) formats.push('image/webp');
  if (formats.length > 0) {
    request.headers['accept'] = { value: formats.join(',') };
  } else {
    delete request.headers['accept'];
  }
  return request;
}
