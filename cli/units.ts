// One unit style for sizes everywhere kit prints them: decimal SI units (1 kB = 1000 bytes,
// 1 MB = 1000 kB, as docker and skopeo print them), one decimal: "77.6 MB", "512 B".
export function formatBytes(n: number): string {
  if (n < 1000) return `${n} B`
  const units = ['kB', 'MB', 'GB', 'TB']
  let v = n / 1000
  let u = 0
  while (v >= 999.95 && u < units.length - 1) {
    v /= 1000
    u++
  }
  return `${v.toFixed(1)} ${units[u]}`
}
