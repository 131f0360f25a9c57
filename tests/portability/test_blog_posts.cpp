#include <gtest/gtest.h>

#include "portability_test_support.hpp"

namespace portability {
namespace {

using testing::format;
using testing::Names;
using testing::not_read_of;
using testing::models;
using testing::read_sample;
using testing::skipped_by;
using testing::skipped_by_joined;

constexpr const char* kTakeout = R"(<?xml version='1.0' encoding='UTF-8'?>
<feed xmlns='http://www.w3.org/2005/Atom' xmlns:blogger='http://schemas.google.com/blogger/2018'>
  <id>tag:blogger.com,1999:blog-42</id><title>t</title><updated>2024-05-01T00:00:00Z</updated>
  <entry>
    <id>tag:blogger.com,1999:blog-42.post-1</id>
    <blogger:type>POST</blogger:type><blogger:status>LIVE</blogger:status>
    <author><name>Taro</name><uri>https://www.blogger.com/profile/7</uri><blogger:type>BLOGGER</blogger:type></author>
    <title>Live one</title><content type='html'>&lt;p&gt;hi&lt;/p&gt;</content>
    <published>2024-04-01T10:00:00.000Z</published><updated>2024-04-02T10:00:00.000Z</updated>
    <category term='spring'/>
    <blogger:location><blogger:name>Kashiwa</blogger:name><blogger:latitude>35.8934</blogger:latitude><blogger:longitude>139.9521</blogger:longitude></blogger:location>
  </entry>
  <entry><id>tag:blogger.com,1999:blog-42.post-1.comment-9</id><blogger:type>COMMENT</blogger:type><blogger:status>LIVE</blogger:status><title>c</title></entry>
  <entry><id>tag:blogger.com,1999:blog-42.page-3</id><blogger:type>PAGE</blogger:type><blogger:status>LIVE</blogger:status><title>About</title></entry>
  <entry>
    <id>tag:blogger.com,1999:blog-42.post-2</id>
    <blogger:type>POST</blogger:type><blogger:status>DRAFT</blogger:status>
    <title>Draft one</title><content type='html'>draft</content>
    <updated>2024-04-03T10:00:00.000+09:00</updated>
  </entry>
</feed>)";

TEST(BloggerAtom, ClassicSampleSplitsToThePostsOnly) {
  const Format& f = format("blogger-atom");
  const auto items = f.split(read_sample("blogger-export.xml"));
  ASSERT_EQ(items.size(), 3u);  // settings and comment skipped
  EXPECT_EQ(items[0].id, "tag:blogger.com,1999:blog-1001.post-1");
  EXPECT_EQ(items[1].id, "tag:blogger.com,1999:blog-1001.post-2");
  EXPECT_EQ(items[2].id, "tag:blogger.com,1999:blog-1001.post-3");

  const Item first = f.to_model(items[0]);
  EXPECT_EQ(first["title"], "こんぶくろ池公園へ");
  EXPECT_EQ(first["content_type"], "html");
  EXPECT_EQ(first["content"],
            "<p>今日は<b>こんぶくろ池公園</b>まで散歩しました。</p><img "
            "src=\"https://example.blogspot.com/img/park.jpg\"/>");
  EXPECT_EQ(first["published"], "2024-01-10T10:00:00.000+09:00");
  EXPECT_EQ(first["updated"], "2024-01-10T12:30:00.000+09:00");
  EXPECT_EQ(first["labels"], Item::array({"公園", "weekend"}));
  EXPECT_EQ(first["url"], "https://example.blogspot.com/2024/01/park.html");
  EXPECT_EQ(first["author"]["name"], "Hanako Sato");
  EXPECT_EQ(first["status"], "live");
  EXPECT_EQ(first["kind"], "POST");

  const Item second = f.to_model(items[1]);
  EXPECT_EQ(second["title"], "Setsubun & beans");
  EXPECT_EQ(second["content"], "<p>Mame-maki at the community centre. Quote: &quot;Oni wa soto!&quot;</p>");
  EXPECT_TRUE(second["labels"].empty());
  EXPECT_EQ(f.to_model(items[2])["title"], "");
}

TEST(BloggerAtom, EachItemParsesAloneWithItsNamespaces) {
  const Format& f = format("blogger-atom");
  for (const NativeItem& n : f.split(read_sample("blogger-export.xml"))) {
    EXPECT_NE(n.text.find("xmlns=\"http://www.w3.org/2005/Atom\""), std::string::npos) << n.text;
    EXPECT_EQ(n.text.find("<?xml"), std::string::npos);
    EXPECT_NO_THROW(f.to_model(n));
  }
}

TEST(BloggerAtom, TakeoutFormReadsPostsWithStatusAndSkipsCommentsAndPages) {
  const Format& f = format("blogger-atom");
  const auto ms = models(f, kTakeout);
  ASSERT_EQ(ms.size(), 2u);
  EXPECT_EQ(ms[0]["id"], "tag:blogger.com,1999:blog-42.post-1");
  EXPECT_EQ(ms[0]["status"], "live");
  EXPECT_EQ(ms[0]["labels"], Item::array({"spring"}));
  EXPECT_EQ(ms[0]["author"]["url"], "https://www.blogger.com/profile/7");
  EXPECT_EQ(ms[0]["location"]["name"], "Kashiwa");
  EXPECT_EQ(ms[0]["location"]["latitude_e7"], 358934000);
  EXPECT_EQ(ms[0]["location"]["longitude_e7"], 1399521000);
  EXPECT_EQ(ms[1]["status"], "draft");
  EXPECT_TRUE(ms[1]["published"].is_null());
}

TEST(BloggerAtom, RoundTripsModelThroughNativeForBothForms) {
  const Format& f = format("blogger-atom");
  std::vector<Item> all = models(f, read_sample("blogger-export.xml"));
  for (const Item& m : models(f, kTakeout)) all.push_back(m);
  for (const Item& m : all) {
    const Converted c = f.from_model(m);
    EXPECT_EQ(c.native.id, m["id"]);
    if (m["updated"].is_null()) continue;  // Atom requires updated: filled from published
    EXPECT_TRUE(c.not_carried.empty()) << c.not_carried.front();
    EXPECT_EQ(f.to_model(c.native), m) << c.native.text;
  }
}

TEST(BloggerAtom, DraftIsWrittenAsAppDraft) {
  const Format& f = format("blogger-atom");
  const Item draft = models(f, kTakeout)[1];
  const Converted c = f.from_model(draft);
  EXPECT_NE(c.native.text.find("<app:draft>yes</app:draft>"), std::string::npos);
  EXPECT_EQ(f.to_model(c.native)["status"], "draft");
}

TEST(BloggerAtom, JoinThenSplitGivesTheSameItems) {
  const Format& f = format("blogger-atom");
  const auto items = f.split(read_sample("blogger-export.xml"));
  const std::string doc = f.join(items);
  EXPECT_NE(doc.find("<feed xmlns=\"http://www.w3.org/2005/Atom\">"), std::string::npos);
  const auto again = f.split(doc);
  ASSERT_EQ(again.size(), items.size());
  for (std::size_t i = 0; i < items.size(); ++i) {
    EXPECT_EQ(again[i].id, items[i].id);
    EXPECT_EQ(again[i].text, items[i].text);
  }
  EXPECT_TRUE(f.split(f.join({})).empty());
}

// A classic entry from the Blogger API's feeds, with what the model has no field for.
constexpr const char* kUnreadEntry = R"(<entry xmlns='http://www.w3.org/2005/Atom'
    xmlns:t='http://purl.org/syndication/thread/1.0' xmlns:m='http://search.yahoo.com/mrss/'
    xmlns:g='http://schemas.google.com/g/2005' xmlns:x='urn:x' xml:lang='ja'>
  <id>tag:blogger.com,1999:blog-7.post-1</id>
  <published>2024-01-10T10:00:00Z</published><updated>2024-01-11T10:00:00Z</updated>
  <category scheme='http://schemas.google.com/g/2005#kind'
            term='http://schemas.google.com/blogger/2008/kind#post'/>
  <category scheme='http://www.blogger.com/atom/ns#' term='park'/>
  <category scheme='urn:tags' term='walk' label='Walk'/>
  <title type='text'>Walk</title>
  <summary type='text'>short</summary>
  <content type='html'>body</content>
  <link rel='replies' type='application/atom+xml' href='https://b.example/feeds/1/comments'/>
  <link rel='replies' type='text/html' href='https://b.example/1.html#c' title='2 Comments'/>
  <link rel='edit' type='application/atom+xml' href='https://b.example/feeds/posts/1'/>
  <link rel='self' type='application/atom+xml' href='https://b.example/feeds/posts/1'/>
  <link rel='alternate' type='text/html' href='https://b.example/1.html' title='Walk'/>
  <link rel='enclosure' type='image/jpeg' href='https://b.example/a.jpg' length='1234'/>
  <author><name>A</name><g:image rel='http://schemas.google.com/g/2005#thumbnail'
    src='https://b.example/a.png'/></author>
  <author><name>B</name></author>
  <m:thumbnail url='https://b.example/t.jpg' width='72' height='72'/>
  <t:total>2</t:total>
  <x:futureField>?</x:futureField>
  <futureElement xmlns='urn:y'>?</futureElement>
  <t:total>3</t:total>
</entry>)";

TEST(BloggerAtom, NotReadNamesEachUnreadPartOnceInDocumentOrder) {
  const Format& f = format("blogger-atom");
  const NativeItem n{"tag:blogger.com,1999:blog-7.post-1", kUnreadEntry};
  EXPECT_EQ(not_read_of(f, n),
            (std::vector<std::string>{"@xml:lang", "category/@scheme", "category/@label",
                                      "summary", "link rel=replies",
                                      "link rel=enclosure/@length", "author/gd:image", "author",
                                      "media:thumbnail", "thr:total", "x:futureField",
                                      "{urn:y}futureElement"}));
  // What is read is still read: the third category is a label, the HTML alternate the url.
  const Item m = f.to_model(n);
  EXPECT_EQ(m["labels"], Item::array({"park", "walk"}));
  EXPECT_EQ(m["url"], "https://b.example/1.html");
  EXPECT_EQ(m["attachments"].size(), 1u);
  // The list is appended to: what an earlier call left stays, and this call's names come once.
  std::vector<std::string> names{"thr:total"};
  f.to_model(n, &names);
  ASSERT_EQ(names.size(), 13u);
  EXPECT_EQ(names[0], "thr:total");
  EXPECT_EQ(names[10], "thr:total");
}

TEST(BloggerAtom, NotReadUsesConventionalPrefixesAndFollowsWhatToModelReads) {
  const Format& f = format("blogger-atom");
  // Takeout form under other prefixes; a georss:point gives the location, so the
  // blogger:location beside it is not read, and a second alternate link is not the url.
  const NativeItem n{"p", R"(<entry xmlns='http://www.w3.org/2005/Atom'
      xmlns:b='http://schemas.google.com/blogger/2018' xmlns:geo='http://www.georss.org/georss'
      xmlns:a='http://www.w3.org/2007/app'>
    <id>p</id><b:type>POST</b:type><b:status>DRAFT</b:status><b:filename>/p.html</b:filename>
    <a:control><a:draft>yes</a:draft><a:futureFlag>on</a:futureFlag></a:control>
    <a:edited>2024-01-12T00:00:00Z</a:edited>
    <title type='text'>T</title><content type='text' xml:lang='en'>c</content>
    <link href='https://b.example/p.html' hreflang='en'/>
    <link rel='alternate' type='text/html' href='https://b.example/p-ja.html'/>
    <author><name>A</name><b:type>BLOGGER</b:type></author>
    <geo:featurename>Kashiwa</geo:featurename><geo:point>35.8934 139.9521</geo:point>
    <b:location><b:name>Elsewhere</b:name><b:latitude>1</b:latitude>
      <b:longitude>2</b:longitude></b:location>
  </entry>)"};
  EXPECT_EQ(not_read_of(f, n),
            (std::vector<std::string>{"blogger:filename", "app:control/app:futureFlag",
                                      "app:edited", "content/@xml:lang",
                                      "link rel=alternate/@hreflang", "link rel=alternate",
                                      "author/blogger:type", "blogger:location"}));
  const Item m = f.to_model(n);
  EXPECT_EQ(m["url"], "https://b.example/p.html");
  EXPECT_EQ(m["location"]["name"], "Kashiwa");
  EXPECT_EQ(m["status"], "draft");
}

TEST(BloggerAtom, NotReadOfTheSamplesIsWhatTheyHoldBeyondTheModel) {
  const Format& f = format("blogger-atom");
  // The classic sample's posts hold only what the model carries.
  for (const NativeItem& n : f.split(read_sample("blogger-export.xml"))) {
    EXPECT_EQ(not_read_of(f, n), std::vector<std::string>{}) << n.id;
  }
  // The Takeout form's author kind (<blogger:type>BLOGGER</blogger:type>) has no field.
  const auto items = f.split(kTakeout);
  ASSERT_EQ(items.size(), 2u);
  EXPECT_EQ(not_read_of(f, items[0]), std::vector<std::string>{"author/blogger:type"});
  EXPECT_EQ(not_read_of(f, items[1]), std::vector<std::string>{});
}

TEST(BloggerAtom, NotReadIsEmptyForWhatFromModelWrites) {
  const Format& f = format("blogger-atom");
  Item m = models(f, kTakeout)[1];  // a draft
  m["location"] = models(f, kTakeout)[0]["location"];
  m["url"] = "https://b.example/p.html";
  m["author"] = Item{{"name", "A"}, {"url", "https://b.example/a"}, {"email", "a@b.example"},
                     {"id", nullptr}};
  m["attachments"] = Item::array({Item{{"kind", nullptr},
                                       {"media_type", "image/png"},
                                       {"url", "https://b.example/i.png"},
                                       {"name", "i"},
                                       {"content", nullptr}}});
  m["labels"] = Item::array({"a", "b"});
  const Converted c = f.from_model(m);
  EXPECT_EQ(not_read_of(f, c.native), std::vector<std::string>{}) << c.native.text;
  EXPECT_EQ(f.to_model(c.native), m);
}

TEST(DtpSocialPost, SampleIsOneItemWithAllFields) {
  const Format& f = format("dtp-social-post");
  const auto items = f.split(read_sample("dtp-social-post-example.json"));
  ASSERT_EQ(items.size(), 1u);
  EXPECT_EQ(items[0].id, "456");
  const Item m = f.to_model(items[0]);
  EXPECT_EQ(m["title"], "Hello world!");
  EXPECT_EQ(m["content"], "Hi there");
  EXPECT_EQ(m["kind"], "NOTE");
  EXPECT_EQ(m["published"], "2024-11-14T17:21:03.845677Z");
  EXPECT_EQ(m["url"], "http://example.org/post/foo");
  EXPECT_EQ(m["author"], (Item{{"name", "Steve"}, {"url", "http://example.org/actor/321"},
                              {"email", nullptr}, {"id", "321"}}));
  ASSERT_EQ(m["attachments"].size(), 1u);
  EXPECT_EQ(m["attachments"][0]["kind"], "IMAGE");
  EXPECT_EQ(m["attachments"][0]["content"], "Example content");
  EXPECT_EQ(m["location"], (Item{{"name", "foo"}, {"latitude_e7", 100000000}, {"longitude_e7", 100000000}}));
}

TEST(DtpSocialPost, ArrayDocumentRoundTripsAndKeepsFractionDigits) {
  const Format& f = format("dtp-social-post");
  const auto items = f.split(read_sample("dtp-social-post-example.json"));
  const std::string doc = f.join(items);
  EXPECT_EQ(doc.front(), '[');
  const auto again = f.split(doc);
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].text, items[0].text);
  const Item m = f.to_model(items[0]);
  const Converted c = f.from_model(m);
  EXPECT_TRUE(c.not_carried.empty());
  // The sample's epoch seconds are written as the schema's date-time, every digit kept.
  EXPECT_NE(c.native.text.find("\"published\":\"2024-11-14T17:21:03.845677Z\""),
            std::string::npos);
  EXPECT_EQ(f.to_model(c.native), m);
}

// DTP's generic importer serializes with Jackson's JavaTimeModule and WRITE_DATES_AS_TIMESTAMPS
// off: "published" is an ISO-8601 instant, as its social-posts schema says (format
// date-time); its first release named the payload class SocialActivityData.
TEST(DtpSocialPost, ReadsAndWritesPublishedAsAnRfc3339Instant) {
  const Format& f = format("dtp-social-post");
  const std::string doc = R"({"@type":"GenericPayload","apiVersion":"0.1.0","schemaSource":"s",
    "payload":{"@type":"SocialActivityData",
    "metadata":{"@type":"SocialActivityMetadata","actor":{"@type":"SocialActivityActor",
      "id":"321","name":"Steve","url":null}},
    "activity":{"@type":"SocialActivityModel","id":"456","published":"2024-11-27T13:16:32Z",
      "type":"NOTE","attachments":[{"@type":"SocialActivityAttachment","type":"IMAGE",
      "url":"foo.com","name":"Foo","content":null}],"title":"Hello world!","content":"Hi",
      "url":null}}})";
  const auto items = f.split(doc);
  ASSERT_EQ(items.size(), 1u);
  const Item m = f.to_model(items[0]);
  EXPECT_EQ(m["published"], "2024-11-27T13:16:32Z");
  EXPECT_EQ(not_read_of(f, items[0]), Names{});
  Item fraction = m;
  fraction["published"] = "2024-11-14T17:21:03.845677Z";
  const Converted c = f.from_model(fraction);
  EXPECT_NE(c.native.text.find("\"published\":\"2024-11-14T17:21:03.845677Z\""),
            std::string::npos) << c.native.text;
  EXPECT_EQ(f.to_model(c.native), fraction);
  // Another offset: the same instant in UTC.
  fraction["published"] = "2024-11-15T02:21:03.845677+09:00";
  EXPECT_NE(f.from_model(fraction).native.text.find("2024-11-14T17:21:03.845677Z"),
            std::string::npos);
  // Not a time at all.
  NativeItem bad = items[0];
  bad.text.replace(bad.text.find("2024-11-27T13:16:32Z"), 20, "next Tuesday");
  EXPECT_THROW(f.to_model(bad), FormatError);
}

TEST(DtpSocialPost, NotReadNamesUnreadMembersByPathOnceEach) {
  const Format& f = format("dtp-social-post");
  const NativeItem n{"9", R"({"@type":"GenericPayload","apiVersion":"0.1.0","schemaSource":"s",
    "futureField":{"a":1},"payload":{"@type":"SocialActivity",
    "metadata":{"@type":"SocialActivityMetadata","actor":{"@type":"SocialActivityActor",
      "id":"1","name":"N","image":"https://d.example/i.png"}},
    "activity":{"@type":"SocialActivityModel","id":"9","type":"POST","content":"c",
      "visibility":"PUBLIC","tags":[],"sensitive":null,"replyTo":"",
      "attachments":[{"@type":"SocialActivityAttachment","type":"IMAGE","url":"u1","width":100},
                     {"type":"IMAGE","url":"u2","width":200,"height":50}],
      "location":{"@type":"Place","latitude":1,"longitude":2,"altitude":3}}}})"};
  EXPECT_EQ(not_read_of(f, n),
            (std::vector<std::string>{"futureField", "payload.activity.attachments.width",
                                      "payload.activity.attachments.height",
                                      "payload.activity.location.@type",
                                      "payload.activity.location.altitude",
                                      "payload.activity.visibility",
                                      "payload.metadata.actor.image"}));
  // Metadata that is not an object is passed over by to_model, so it is not read.
  const NativeItem odd{"9", R"({"payload":{"activity":{"id":"9"},"metadata":"m"}})"};
  EXPECT_EQ(not_read_of(f, odd), std::vector<std::string>{"payload.metadata"});
}

TEST(DtpSocialPost, NotReadIsEmptyForTheSampleAndWhatFromModelWrites) {
  const Format& f = format("dtp-social-post");
  // The sample holds DTP's envelope and SocialActivity members only, all read.
  const auto items = f.split(read_sample("dtp-social-post-example.json"));
  ASSERT_EQ(items.size(), 1u);
  EXPECT_EQ(not_read_of(f, items[0]), std::vector<std::string>{});
  const Converted c = f.from_model(f.to_model(items[0]));
  EXPECT_EQ(not_read_of(f, c.native), std::vector<std::string>{}) << c.native.text;
}

TEST(CrossFormat, BloggerToDtpKeepsWhatItDoesNotList) {
  const Format& atom = format("blogger-atom");
  const Format& dtp = format("dtp-social-post");
  for (const Item& m : models(atom, read_sample("blogger-export.xml"))) {
    const Converted c = dtp.from_model(m);
    // Labels, updated and the +09:00 offset cannot travel in DTP.
    EXPECT_NE(std::find(c.not_carried.begin(), c.not_carried.end(), "updated"), c.not_carried.end());
    EXPECT_NE(std::find(c.not_carried.begin(), c.not_carried.end(), "published.offset"), c.not_carried.end());
    testing::expect_carried(m, dtp);
  }
  const Item first = models(atom, read_sample("blogger-export.xml"))[0];
  const Converted c = dtp.from_model(first);
  EXPECT_NE(std::find(c.not_carried.begin(), c.not_carried.end(), "labels"), c.not_carried.end());
  EXPECT_NE(c.native.text.find("\"published\":\"2024-01-10T01:00:00.000Z\""),
            std::string::npos);
}

TEST(BloggerAtom, SplitNamesTheEntriesOfOtherKindsAndTheFeedsOwnParts) {
  const Format& f = format("blogger-atom");
  // The classic sample: the blog's name and owner on the feed, a settings entry and a comment.
  EXPECT_EQ(skipped_by(f, read_sample("blogger-export.xml")),
            (Names{"feed/title", "feed/author", "entry kind=settings", "entry kind=comment"}));
  // The Takeout form names kinds with blogger:type.
  EXPECT_EQ(skipped_by(f, kTakeout),
            (Names{"feed/title", "entry blogger:type=COMMENT", "entry blogger:type=PAGE"}));

  // Each part once, in document order; the feed's bookkeeping (id, updated, generator, links)
  // and elements holding nothing are read; another namespace keeps the prefix as written, and
  // a kind outside Blogger's namespace is named by its whole term.
  const std::string feed =
      "<feed xmlns='http://www.w3.org/2005/Atom' xml:lang='ja' "
      "xmlns:os='http://a9.com/-/spec/opensearchrss/1.0/'>"
      "<id>tag:blogger.com,1999:blog-7</id><updated>2024-01-01T00:00:00Z</updated>"
      "<title type='text'/><subtitle type='html'>Notes</subtitle>"
      "<link rel='self' href='https://b.example/feed'/>"
      "<generator uri='https://www.blogger.com'>Blogger</generator>"
      "<os:totalResults>9</os:totalResults>"
      "<entry><id>c1</id><category scheme='http://schemas.google.com/g/2005#kind' "
      "term='http://schemas.google.com/blogger/2008/kind#comment'/></entry>"
      "<entry><id>t1</id><category scheme='http://schemas.google.com/g/2005#kind' "
      "term='http://schemas.google.com/blogger/2008/kind#template'/></entry>"
      "<entry><id>c2</id><category scheme='http://schemas.google.com/g/2005#kind' "
      "term='http://schemas.google.com/blogger/2008/kind#comment'/></entry>"
      "<entry><id>x1</id><category scheme='http://schemas.google.com/g/2005#kind' "
      "term='urn:example:kind#poll'/></entry>"
      "<subtitle>again</subtitle>"
      "</feed>";
  EXPECT_EQ(skipped_by(f, feed),
            (Names{"feed/@xml:lang", "feed/subtitle", "feed/os:totalResults",
                   "entry kind=comment", "entry kind=template",
                   "entry kind=urn:example:kind#poll"}));

  // What the list held is the caller's; a document refused adds nothing.
  Names names{"earlier"};
  f.split(read_sample("blogger-export.xml"), &names);
  EXPECT_EQ(names.front(), "earlier");
  EXPECT_EQ(names.size(), 5u);
  testing::expect_split_refused(f, "<feed xmlns='http://www.w3.org/2005/Atom'><title>t</title>"
                                   "<entry><id>e</id></entry></feed>");
}

TEST(BloggerAtom, SplitOfAJoinedPageNamesNothing) {
  const Format& f = format("blogger-atom");
  EXPECT_EQ(skipped_by_joined(f, read_sample("blogger-export.xml")), Names{});
  EXPECT_EQ(skipped_by_joined(f, kTakeout), Names{});
}

TEST(DtpSocialPost, SplitSkipsNothing) {
  const Format& f = format("dtp-social-post");
  const std::string sample = read_sample("dtp-social-post-example.json");
  EXPECT_EQ(skipped_by(f, sample), Names{});
  EXPECT_EQ(skipped_by(f, "[" + sample + "," + sample + "]"), Names{});
  EXPECT_EQ(skipped_by_joined(f, sample), Names{});
}

TEST(CrossFormat, DtpToBloggerKeepsWhatItDoesNotList) {
  const Format& atom = format("blogger-atom");
  const Format& dtp = format("dtp-social-post");
  for (const Item& m : models(dtp, read_sample("dtp-social-post-example.json"))) {
    Item with_updated = m;
    with_updated["updated"] = m["published"];  // Atom requires updated
    const Converted c = atom.from_model(with_updated);
    EXPECT_NE(std::find(c.not_carried.begin(), c.not_carried.end(), "kind"), c.not_carried.end());
    EXPECT_NE(std::find(c.not_carried.begin(), c.not_carried.end(), "author.id"), c.not_carried.end());
    testing::expect_carried(with_updated, atom);
  }
}

}  // namespace
}  // namespace portability
