// Tiers: presets of allow rules a local policy starts from. `allow-all` is `**` (every name on
// ports 80 and 443: other ports and IP literals still need rules); `deny-all` allows nothing; and
// `balanced` is the curated list below, as data: AI provider APIs, package registries, code hosts,
// container registries. Hosts that need a middle wildcard (`bedrock-runtime.*.amazonaws.com`) cannot
// be written as rules the proxy enforces, so they are not here; add the regions you use.

export const TIERS = ['allow-all', 'balanced', 'deny-all'] as const
export type Tier = (typeof TIERS)[number]

export function isTier(s: string): s is Tier {
  return (TIERS as readonly string[]).includes(s)
}

export const BALANCED: Readonly<Record<string, readonly string[]>> = {
  'AI provider APIs': [
    'api.anthropic.com',
    'api.openai.com',
    '*.openai.azure.com',
    'generativelanguage.googleapis.com',
    'aiplatform.googleapis.com',
    'api.mistral.ai',
    'api.groq.com',
    'api.together.xyz',
    'api.cohere.com',
    'api.deepseek.com',
    'api.x.ai',
    'api.fireworks.ai',
    'api.perplexity.ai',
    'openrouter.ai',
  ],
  'package registries': [
    'registry.npmjs.org',
    'registry.yarnpkg.com',
    'nodejs.org',
    'pypi.org',
    'files.pythonhosted.org',
    'crates.io',
    'index.crates.io',
    'static.crates.io',
    'static.rust-lang.org',
    'proxy.golang.org',
    'sum.golang.org',
    'rubygems.org',
    'index.rubygems.org',
    'repo.maven.apache.org',
    'repo1.maven.org',
    'plugins.gradle.org',
    'services.gradle.org',
    'api.nuget.org',
    'repo.packagist.org',
    'deb.debian.org',
    'security.debian.org',
    'archive.ubuntu.com',
    'security.ubuntu.com',
    'dl-cdn.alpinelinux.org',
  ],
  'code hosts': [
    'github.com',
    'api.github.com',
    'codeload.github.com',
    '*.githubusercontent.com',
    'gitlab.com',
    'bitbucket.org',
    'api.bitbucket.org',
  ],
  'container registries': [
    'registry-1.docker.io',
    'auth.docker.io',
    'index.docker.io',
    'production.cloudflare.docker.com',
    'ghcr.io',
    'quay.io',
    '*.quay.io',
    'gcr.io',
    '*.pkg.dev',
    'mcr.microsoft.com',
    '*.data.mcr.microsoft.com',
    'public.ecr.aws',
  ],
}

/** The allow rules of a tier. */
export function tierRules(tier: Tier): string[] {
  switch (tier) {
    case 'allow-all':
      return ['**']
    case 'deny-all':
      return []
    case 'balanced':
      return Object.values(BALANCED).flat()
  }
}
