package scan

// Images are decoded and encoded again. The new file holds the pixels
// and nothing else: no EXIF (a phone photo's GPS position, the camera's
// serial number), no XMP, no comments, no text chunks, and nothing of
// what may follow the image's end (a second file, or the video of a
// "motion photo"). The EXIF orientation is applied to the pixels first,
// so a portrait photo stays upright without its EXIF.

import (
	"bytes"
	"context"
	"image/jpeg"
	"image/png"
)

const (
	// MaxPixels is the most pixels an image may have (40 megapixels; a
	// phone photo has 12 to 50). Checked on the header before decoding,
	// so a small file declaring a huge image (a decompression bomb) costs
	// nothing.
	MaxPixels = 40_000_000
	// jpegQuality is the quality of the new encoding: invisible loss for
	// photos of documents; jpegSmallerQuality is the second try when the
	// first does not fit the field's size limit.
	jpegQuality        = 90
	jpegSmallerQuality = 75
	// imageBytesPerPixel estimates what decoding takes per pixel: a
	// progressive JPEG keeps its coefficients (up to 6 bytes a pixel at
	// 4:2:0) besides the image, a 16-bit RGBA PNG 8.
	imageBytesPerPixel = 8
)

// reencode decodes content and returns its new encoding, at most maxSize
// bytes.
func (c *Checker) reencode(ctx context.Context, mediaType string, content []byte, maxSize int64) ([]byte, error) {
	decodeConfig, decode := png.DecodeConfig, png.Decode
	if mediaType == MediaTypeJPEG {
		decodeConfig, decode = jpeg.DecodeConfig, jpeg.Decode
	}
	cfg, err := decodeConfig(bytes.NewReader(content))
	if err != nil || cfg.Width <= 0 || cfg.Height <= 0 {
		return nil, &Finding{Kind: Damaged}
	}
	pixels := int64(cfg.Width) * int64(cfg.Height)
	if pixels > MaxPixels {
		return nil, &Finding{Kind: TooLarge, Detail: "pixels"}
	}
	var out []byte
	err = c.withMemory(ctx, pixels*imageBytesPerPixel, func() error {
		img, err := decode(bytes.NewReader(content))
		if err != nil {
			return &Finding{Kind: Damaged}
		}
		if mediaType == MediaTypePNG {
			var b bytes.Buffer
			b.Grow(len(content))
			if err := png.Encode(&b, img); err != nil {
				return &Finding{Kind: Damaged}
			}
			out = b.Bytes()
			return nil
		}
		img = orient(img, exifOrientation(content))
		for _, q := range []int{jpegQuality, jpegSmallerQuality} {
			var b bytes.Buffer
			b.Grow(len(content))
			if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: q}); err != nil {
				return &Finding{Kind: Damaged}
			}
			if out = b.Bytes(); int64(len(out)) <= maxSize {
				return nil
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if int64(len(out)) > maxSize {
		return nil, &Finding{Kind: TooLarge, Detail: "encoded size"}
	}
	return out, nil
}
