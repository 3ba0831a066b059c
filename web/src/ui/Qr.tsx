import { useEffect, useState } from "preact/hooks";
import QRCode from "qrcode";

/** A QR code of `text`, rendered as inline SVG (crisp at any size). */
export function Qr({ text, label }: { text: string; label: string }) {
  const [svg, setSvg] = useState("");
  useEffect(() => {
    let live = true;
    QRCode.toString(text, { type: "svg", errorCorrectionLevel: "L", margin: 2 }).then(
      (s) => live && setSvg(s),
      () => live && setSvg(""),
    );
    return () => {
      live = false;
    };
  }, [text]);
  return <div class="qr" role="img" aria-label={label} dangerouslySetInnerHTML={{ __html: svg }} />;
}
