package scan

import (
	"encoding/binary"
	"image"
	"image/draw"
)

// exifOrientation returns the EXIF orientation (1 to 8) of a JPEG, or 1
// when it has none: tag 0x0112 of IFD0 in the APP1 "Exif" segment.
// Everything else in the EXIF data is ignored, and dropped with it.
func exifOrientation(jpg []byte) int {
	p := 2 // after SOI
	for p+4 <= len(jpg) {
		if jpg[p] != 0xFF {
			return 1
		}
		marker := jpg[p+1]
		switch {
		case marker == 0xFF: // fill byte
			p++
			continue
		case marker == 0xD8 || marker >= 0xD0 && marker <= 0xD7 || marker == 0x01: // no length
			p += 2
			continue
		case marker == 0xDA || marker == 0xD9: // start of scan, end of image: no EXIF before it
			return 1
		}
		n := int(binary.BigEndian.Uint16(jpg[p+2:]))
		if n < 2 || p+2+n > len(jpg) {
			return 1
		}
		seg := jpg[p+4 : p+2+n]
		if marker == 0xE1 && len(seg) > 6 && string(seg[:6]) == "Exif\x00\x00" {
			return tiffOrientation(seg[6:])
		}
		p += 2 + n
	}
	return 1
}

// tiffOrientation reads the orientation tag from the TIFF structure of
// EXIF data.
func tiffOrientation(t []byte) int {
	if len(t) < 8 {
		return 1
	}
	var bo binary.ByteOrder
	switch string(t[:4]) {
	case "II*\x00":
		bo = binary.LittleEndian
	case "MM\x00*":
		bo = binary.BigEndian
	default:
		return 1
	}
	ifd := int64(bo.Uint32(t[4:]))
	if ifd < 8 || ifd+2 > int64(len(t)) {
		return 1
	}
	count := int64(bo.Uint16(t[ifd:]))
	for i := range count {
		e := ifd + 2 + 12*i
		if e+12 > int64(len(t)) {
			return 1
		}
		if bo.Uint16(t[e:]) != 0x0112 {
			continue
		}
		if bo.Uint16(t[e+2:]) != 3 { // SHORT
			return 1
		}
		if o := int(bo.Uint16(t[e+8:])); o >= 1 && o <= 8 {
			return o
		}
		return 1
	}
	return 1
}

// orient returns img turned as EXIF orientation o asks, so that it shows
// upright without EXIF. The JPEG decoder's types (YCbCr, Gray, CMYK,
// RGBA) are turned plane by plane without converting colours; anything
// else is drawn into RGBA first.
func orient(img image.Image, o int) image.Image {
	if o < 2 || o > 8 {
		return img
	}
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	ow, oh := w, h
	if o >= 5 { // the four that swap width and height
		ow, oh = h, w
	}
	switch m := img.(type) {
	case *image.YCbCr:
		ratio, ok := turnedRatio(m.SubsampleRatio, o >= 5)
		if !ok || b.Min != (image.Point{}) {
			break
		}
		dst := image.NewYCbCr(image.Rect(0, 0, ow, oh), ratio)
		turnPlane(dst.Y, dst.YStride, m.Y, m.YStride, w, h, 1, o)
		cw, ch := chromaSize(w, h, m.SubsampleRatio)
		turnPlane(dst.Cb, dst.CStride, m.Cb, m.CStride, cw, ch, 1, o)
		turnPlane(dst.Cr, dst.CStride, m.Cr, m.CStride, cw, ch, 1, o)
		return dst
	case *image.Gray:
		dst := image.NewGray(image.Rect(0, 0, ow, oh))
		turnPlane(dst.Pix, dst.Stride, m.Pix, m.Stride, w, h, 1, o)
		return dst
	case *image.CMYK:
		dst := image.NewCMYK(image.Rect(0, 0, ow, oh))
		turnPlane(dst.Pix, dst.Stride, m.Pix, m.Stride, w, h, 4, o)
		return dst
	case *image.RGBA:
		dst := image.NewRGBA(image.Rect(0, 0, ow, oh))
		turnPlane(dst.Pix, dst.Stride, m.Pix, m.Stride, w, h, 4, o)
		return dst
	}
	rgba := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.Draw(rgba, rgba.Bounds(), img, b.Min, draw.Src)
	return orient(rgba, o)
}

// turnPlane writes the w×h plane src (bpp bytes a pixel) into dst,
// turned for orientation o. A source pixel (x, y) lands at
// (ax·x + bx·y + cx, ay·x + by·y + cy).
func turnPlane(dst []byte, dstStride int, src []byte, srcStride, w, h, bpp, o int) {
	var ax, bx, cx, ay, by, cy int
	switch o {
	case 2: // mirrored
		ax, cx, by = -1, w-1, 1
	case 3: // upside down
		ax, cx, by, cy = -1, w-1, -1, h-1
	case 4: // mirrored upside down
		ax, by, cy = 1, -1, h-1
	case 5: // transposed
		bx, ay = 1, 1
	case 6: // turned right
		bx, cx, ay = -1, h-1, 1
	case 7: // transversed
		bx, cx, ay, cy = -1, h-1, -1, w-1
	case 8: // turned left
		bx, ay, cy = 1, -1, w-1
	}
	step := ay*dstStride + ax*bpp // moving one pixel right in src
	for y := range h {
		d := (by*y+cy)*dstStride + (bx*y+cx)*bpp
		s := src[y*srcStride : y*srcStride+w*bpp]
		for x := 0; x < w*bpp; x += bpp {
			copy(dst[d:d+bpp], s[x:x+bpp])
			d += step
		}
	}
}

// turnedRatio is the subsampling of a YCbCr image turned by 90 degrees
// (swap) or not. 4:1:1 and 4:1:0 have no turned counterpart in Go's
// image package.
func turnedRatio(r image.YCbCrSubsampleRatio, swap bool) (image.YCbCrSubsampleRatio, bool) {
	if !swap {
		return r, true
	}
	switch r {
	case image.YCbCrSubsampleRatio444, image.YCbCrSubsampleRatio420:
		return r, true
	case image.YCbCrSubsampleRatio422:
		return image.YCbCrSubsampleRatio440, true
	case image.YCbCrSubsampleRatio440:
		return image.YCbCrSubsampleRatio422, true
	}
	return r, false
}

// chromaSize is the size of a chroma plane of a w×h YCbCr image at the
// origin, as image.NewYCbCr lays it out.
func chromaSize(w, h int, r image.YCbCrSubsampleRatio) (int, int) {
	switch r {
	case image.YCbCrSubsampleRatio422:
		return (w + 1) / 2, h
	case image.YCbCrSubsampleRatio420:
		return (w + 1) / 2, (h + 1) / 2
	case image.YCbCrSubsampleRatio440:
		return w, (h + 1) / 2
	case image.YCbCrSubsampleRatio411:
		return (w + 3) / 4, h
	case image.YCbCrSubsampleRatio410:
		return (w + 3) / 4, (h + 1) / 2
	}
	return w, h
}
